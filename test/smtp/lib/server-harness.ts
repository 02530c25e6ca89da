/**
 * Starts the real listener for a test: Lua scripts written to a temp dir, a
 * config parsed from YAML text (so the config path is exercised too), the
 * real AuditStore and engine, a capturing logger, and sockets on 127.0.0.1:0
 * and [::1]:0.
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAddress, parseCidr } from '../../../src/audit/address.ts';
import { AuditStore } from '../../../src/audit/store.ts';
import { ManualClock, monotonicMs, SystemClock, type Clock } from '../../../src/clock.ts';
import { parseConfig } from '../../../src/config/load.ts';
import { engineOptionsFrom, storeOptionsFrom, type MoonwatchConfig } from '../../../src/config/schema.ts';
import { captureLogger, type LogRecord } from '../../../src/log.ts';
import { createEngine, type Engine } from '../../../src/policy/engine.ts';
import type { PolicyEngine } from '../../../src/policy/session-api.ts';
import type { ListenAddress } from '../../../src/config/schema.ts';
import type { PolicyConnection } from '../../../src/smtp/connection.ts';
import { startSmtpServer, type SmtpListener } from '../../../src/smtp/server.ts';
import { createSink, type Sink } from '../../../src/smtp/sink.ts';
import { RawSmtpClient, type Reply } from './raw-client.ts';

export interface TestServerOptions {
  /** module name → Lua source; modules run in this order. */
  readonly scripts: Record<string, string>;
  /** Extra YAML appended to the generated config (limits:, sink:, xclient: …). */
  readonly yaml?: string;
  readonly clock?: Clock;
  /** Listen on IPv4 only (default: 127.0.0.1 and ::1). */
  readonly ipv4Only?: boolean;
  readonly sink?: Sink;
  /** Wraps the real engine as the listener sees it (fault injection). */
  readonly wrapEngine?: (engine: PolicyEngine) => PolicyEngine;
  /** Binds these instead of 127.0.0.1:0 (and [::1]:0). */
  readonly listen?: readonly ListenAddress[];
  /** Told about every accepted connection. */
  readonly onConnection?: (connection: PolicyConnection) => void;
}

export interface TestServer {
  readonly config: MoonwatchConfig;
  readonly store: AuditStore;
  readonly engine: Engine;
  readonly listener: SmtpListener;
  readonly records: LogRecord[];
  readonly dir: string;
  readonly port4: number;
  readonly port6: number;
  connect(opts?: { v6?: boolean; localAddress?: string }): Promise<{ client: RawSmtpClient; greeting: Reply }>;
  /** connections / receptions / rejections of `cidr` in window 0 of the first monitor. */
  count(metric: 'connections' | 'receptions' | 'rejections', cidr: string): number;
  gauge(cidr: string): number;
  /** Waits until the engine has no open sessions (every close has run). */
  settled(timeoutMs?: number): Promise<void>;
  stop(graceMs?: number): Promise<void>;
}

export async function startTestServer(opts: TestServerOptions): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'mw-smtp-'));
  const scriptsDir = join(dir, 'scripts');
  mkdirSync(scriptsDir);
  for (const [name, source] of Object.entries(opts.scripts)) writeFileSync(join(scriptsDir, `${name}.lua`), source);
  const modules = Object.keys(opts.scripts);
  const listen = opts.ipv4Only === true ? '["127.0.0.1:0"]' : '["127.0.0.1:0", "[::1]:0"]';
  const yaml = [
    `listen: ${listen}`,
    'hostname: mx.test.example',
    'inbound_audit:',
    '  monitors: ["60,10"]',
    'scripts:',
    '  dir: scripts',
    `  modules: [${modules.join(', ')}]`,
    '  hot_reload: false',
    'log:',
    '  level: debug',
    opts.yaml ?? '',
  ].join('\n');
  const config = parseConfig(yaml, join(dir, 'moonwatch.yaml'));
  const clock = opts.clock ?? new SystemClock();
  const { logger, records } = captureLogger('debug');
  const store = new AuditStore(storeOptionsFrom(config, { clock, logger }));
  const engine = await createEngine(engineOptionsFrom(config, { clock, logger, store }));
  const sink = opts.sink ?? (await createSink(config.sink, { clock, logger, hostname: config.hostname }));
  const listener = await startSmtpServer({
    config,
    engine: opts.wrapEngine?.(engine) ?? engine,
    sink,
    logger,
    clock,
    ...(opts.listen === undefined ? {} : { listen: opts.listen }),
    ...(opts.onConnection === undefined ? {} : { onConnection: opts.onConnection }),
  });
  const addrs = listener.addresses();
  const port4 = addrs.find((a) => a.family === 'IPv4')?.port ?? 0;
  const port6 = addrs.find((a) => a.family === 'IPv6')?.port ?? 0;
  const clients: RawSmtpClient[] = [];
  let stopped = false;
  return {
    config,
    store,
    engine,
    listener,
    records,
    dir,
    port4,
    port6,
    async connect(o = {}) {
      const r = await RawSmtpClient.connect({
        host: o.v6 === true ? '::1' : '127.0.0.1',
        port: o.v6 === true ? port6 : port4,
        ...(o.localAddress === undefined ? {} : { localAddress: o.localAddress }),
      });
      clients.push(r.client);
      return r;
    },
    count(metric, cidr) {
      return store.count(metric, '60,10', parseCidr(cidr), 0, 9);
    },
    gauge(cidr) {
      return store.gauges.count('SMTP', parseCidr(cidr));
    },
    async settled(timeoutMs = 5000) {
      const until = monotonicMs() + timeoutMs;
      while (engine.status().openSessions > 0 || listener.stats().open > 0) {
        if (monotonicMs() > until) throw new Error(`sessions still open: ${engine.status().openSessions}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async stop(graceMs = 0) {
      if (stopped) return;
      stopped = true;
      for (const c of clients) if (!c.isClosed) c.socket.destroy();
      await listener.close(graceMs);
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export { parseAddress, ManualClock };

/** Log records with this msg. */
export function logged(records: LogRecord[], msg: string): LogRecord[] {
  return records.filter((r) => r.msg === msg);
}
