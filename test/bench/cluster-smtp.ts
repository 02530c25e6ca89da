/** One moonwatch listener (example policies + probe) with or without a cluster member, for cluster.bench.ts. */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { AuditStore } from '../../src/audit/store.ts';
import { SystemClock } from '../../src/clock.ts';
import { startCluster } from '../../src/cluster/start.ts';
import { parseConfig } from '../../src/config/load.ts';
import { engineOptionsFrom, storeOptionsFrom } from '../../src/config/schema.ts';
import { createEngine } from '../../src/policy/engine.ts';
import { startSmtpServer } from '../../src/smtp/server.ts';
import { DiscardSink } from '../../src/smtp/sink.ts';

export async function startClusteredMoonwatch(redisUrl: string | undefined): Promise<{ port: number; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'mw-bench-cl-'));
  cpSync('examples/policies', join(dir, 'policies'), { recursive: true });
  const config = parseConfig(
    [
      'listen: ["127.0.0.1:0"]',
      'hostname: mx.example.test',
      'inbound_audit: { monitors: ["60,10", "300,6"] }',
      'scripts:',
      '  dir: policies',
      '  modules: [whitelist, ip_rate, burst24, session_cap, smoothed_rate, dha]',
      '  hot_reload: false',
      'limits: { max_connections: 5000, max_connections_per_ip: 50 }',
      ...(redisUrl === undefined ? [] : ['cluster:', `  node: bench${Date.now()}`, `  redis: ${redisUrl}`]),
    ].join('\n'),
    join(dir, 'moonwatch.yaml'),
  );
  const logger = pino({ level: 'warn' }, new Writable({ write: (_c, _e, cb) => cb() }));
  const clock = new SystemClock();
  const store = new AuditStore(storeOptionsFrom(config, { clock, logger }));
  const state = config.cluster === undefined ? undefined : store.enableCluster({ families: config.cluster.replicate });
  const engine = await createEngine(engineOptionsFrom(config, { clock, logger, store }));
  const node = config.cluster === undefined || state === undefined ? undefined : startCluster(config.cluster, { store, state, clock, logger, logDir: dir });
  const listener = await startSmtpServer({ config, engine, sink: new DiscardSink(), logger, clock });
  return {
    port: listener.addresses()[0]!.port,
    async close() {
      await listener.close(0);
      await node?.stop();
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
