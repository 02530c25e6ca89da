/**
 * Main-thread time per SMTP session, for working on the SMTP throughput target
 * (issue 4): event-loop utilisation of the server while the bench's load client
 * (a worker thread) runs full sessions against it.
 *
 *   W=plain|noop|five|examples C=500 node --import tsx scripts/smtp-elu.ts
 *
 * plain = smtp-server accepting everything; noop = moonwatch with a one-line
 * policy; five = the benchmarks' five-phase policy; examples = the six example
 * policies. Add --cpu-prof --cpu-prof-dir=DIR to node to profile the same run.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { SMTPServer } from 'smtp-server';
import { AuditStore } from '../src/audit/store.ts';
import { SystemClock } from '../src/clock.ts';
import { parseConfig } from '../src/config/load.ts';
import { engineOptionsFrom, storeOptionsFrom } from '../src/config/schema.ts';
import { createEngine } from '../src/policy/engine.ts';
import { startSmtpServer } from '../src/smtp/server.ts';
import { DiscardSink } from '../src/smtp/sink.ts';
import { FIVE_PHASES } from '../test/bench/policies.ts';
import { load } from '../test/bench/smtp.bench.ts';

const which = process.env['W'] ?? 'examples';
const concurrency = Number(process.env['C'] ?? 500);
const MODULES: Record<string, string> = {
  noop: 'noop',
  five: 'five',
  examples: 'whitelist, ip_rate, burst24, session_cap, smoothed_rate, dha',
};

async function start(): Promise<{ port: number; close: () => Promise<void> }> {
  if (which === 'plain') {
    const server = new SMTPServer({
      name: 'mx.example.test',
      disabledCommands: ['AUTH', 'STARTTLS'],
      hideSTARTTLS: true,
      authOptional: true,
      disableReverseLookup: true,
      logger: false,
      onData(stream, _session, cb) {
        stream.on('data', () => undefined);
        stream.on('end', () => cb());
      },
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return { port: (server.server.address() as { port: number }).port, close: () => new Promise((r) => server.close(() => r())) };
  }
  const modules = MODULES[which];
  if (modules === undefined) throw new Error(`W must be plain, noop, five or examples, not ${which}`);
  const dir = mkdtempSync(join(tmpdir(), 'mw-elu-'));
  cpSync('examples/policies', join(dir, 'policies'), { recursive: true });
  writeFileSync(join(dir, 'policies', 'noop.lua'), 'local m = {} function m:validate_connect() return 0 end msys.registerModule("noop", m)');
  writeFileSync(join(dir, 'policies', 'five.lua'), FIVE_PHASES);
  const config = parseConfig(
    [
      'listen: ["127.0.0.1:0"]',
      'hostname: mx.example.test',
      'inbound_audit: { monitors: ["60,10", "300,6"] }',
      `scripts: { dir: policies, modules: [${modules}], hot_reload: false }`,
      'limits: { max_connections: 5000, max_connections_per_ip: 50 }',
    ].join('\n'),
    join(dir, 'moonwatch.yaml'),
  );
  const logger = pino({ level: 'warn' }, new Writable({ write: (_c, _e, cb) => cb() }));
  const clock = new SystemClock();
  const store = new AuditStore(storeOptionsFrom(config, { clock, logger }));
  const engine = await createEngine(engineOptionsFrom(config, { clock, logger, store }));
  const listener = await startSmtpServer({ config, engine, sink: new DiscardSink(), logger, clock });
  return {
    port: listener.addresses()[0]!.port,
    async close() {
      await listener.close(0);
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const target = await start();
const before = performance.eventLoopUtilization();
const r = await load(target.port, concurrency);
const elu = performance.eventLoopUtilization(before);
// load() runs a warm-up then a measured window; ELU spans both, so divide by all sessions it ran.
const sessions = (r.rate * (elu.idle + elu.active)) / 1000;
console.log(
  `${which} @${concurrency}: ${r.rate.toFixed(0)} sessions/s, ELU ${elu.utilization.toFixed(2)}, ` +
    `~${(elu.active / sessions).toFixed(3)} ms main-thread time per session`,
);
await target.close();
