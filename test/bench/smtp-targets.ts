/**
 * The servers the SMTP benchmarks drive: plain smtp-server accepting
 * everything (the baseline), and moonwatch with the lean five-phase policy or
 * the six example policies plus a probe module. Shared by smtp.bench.ts (which
 * runs each as a process of its own: `moonwatch serve` on the config written
 * by writeMoonwatchSetup(), and test/bench/plain-server.mjs), scripts/smtp-elu.ts
 * and harness.bench.ts (which start them in-process).
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { AuditStore } from '../../src/audit/store.ts';
import { SystemClock } from '../../src/clock.ts';
import { parseConfig } from '../../src/config/load.ts';
import { engineOptionsFrom, storeOptionsFrom } from '../../src/config/schema.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import { createEngine } from '../../src/policy/engine.ts';
import { startSmtpServer } from '../../src/smtp/server.ts';
import { DiscardSink } from '../../src/smtp/sink.ts';
import type { LoadRequest, LoadResult } from '../smtp/lib/load-client.ts';
import { FIVE_PHASES } from './policies.ts';

const WARMUP_MS = 2000;
const MEASURE_MS = 4000;
export const BODY = `From: load@sender.example\r\nTo: alice@example.test\r\nSubject: bench\r\n\r\n${'x'.repeat(74)}\r\n`.repeat(12).slice(0, 1024);

/** Adds store queries at EHLO and DATA, the two phases the example policies leave alone. */
const PROBE = `
require("msys.core")
require("msys.audit")
local probe = {}
function probe:validate_ehlo(str, ac, vctx)
  if msys.audit.rejections("60,10", { startv = 0, endv = 4 }) > 1000 then
    vctx:set_code(550, "5.7.1 too many rejections")
    return msys.core.VALIDATE_DONE
  end
  return msys.core.VALIDATE_CONT
end
function probe:validate_data(msg, ac, vctx)
  if msys.audit.receptions("300,6", { cidr = "/24" }) > 100000 then
    vctx:set_code(451, "4.7.1 slow down")
    return msys.core.VALIDATE_DONE
  end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("probe", probe)
`;

export interface Target {
  port: number;
  close(): Promise<void>;
}

/** The six example policies plus the probe, the lean five-phase policy alone, or a one-line policy. */
export type PolicyChoice = 'examples' | 'five' | 'noop';

const MODULES: Record<PolicyChoice, string> = {
  examples: 'whitelist, ip_rate, burst24, session_cap, smoothed_rate, dha, probe',
  five: 'five',
  noop: 'noop',
};

export interface MoonwatchOptions {
  /**
   * Raise every threshold so that a load from one address (smtp-source
   * connects from 127.0.0.1 only) trips none: the policies still run every
   * query and comparison, they just never refuse.
   */
  readonly relaxed?: boolean;
  /** `warn` (default): nothing per session. `info`: as shipped, to stdout. */
  readonly logLevel?: 'warn' | 'info';
  readonly maxConnectionsPerIp?: number;
  /** limits.greeting_delay_ms (default 0, the config's default). */
  readonly greetingDelayMs?: number;
}

const THRESHOLD_NAMES = /^(local (?:LIMIT|SLOW_ABOVE|REFUSE_ABOVE|PER_IP|PER_NET24|MAX_MISSES) = )\d+/gm;

function relax(lua: string): string {
  return lua.replace(THRESHOLD_NAMES, '$11e12').replace(/> \d+ then/g, '> 1e12 then');
}

/** A scripts directory and config file for moonwatch with `policy`, in a fresh temporary directory. */
export function writeMoonwatchSetup(policy: PolicyChoice, opts: MoonwatchOptions & { readonly listen?: string } = {}): { dir: string; configFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mw-bench-'));
  const policies = join(dir, 'policies');
  cpSync('examples/policies', policies, { recursive: true });
  writeFileSync(join(policies, 'probe.lua'), PROBE);
  writeFileSync(join(policies, 'five.lua'), FIVE_PHASES);
  writeFileSync(join(policies, 'noop.lua'), 'local m = {} function m:validate_connect() return 0 end msys.registerModule("noop", m)');
  if (opts.relaxed === true) {
    for (const f of readdirSync(policies)) if (f.endsWith('.lua')) writeFileSync(join(policies, f), relax(readFileSync(join(policies, f), 'utf8')));
  }
  const perIp = opts.maxConnectionsPerIp ?? 50;
  const configFile = join(dir, 'moonwatch.yaml');
  writeFileSync(
    configFile,
    [
      `listen: ["${opts.listen ?? '127.0.0.1:0'}"]`,
      'hostname: mx.example.test',
      'inbound_audit: { monitors: ["60,10", "300,6"] }',
      'scripts:',
      '  dir: policies',
      `  modules: [${MODULES[policy]}]`,
      '  hot_reload: false',
      `limits: { max_connections: ${Math.max(5000, perIp)}, max_connections_per_ip: ${perIp}${opts.greetingDelayMs === undefined ? '' : `, greeting_delay_ms: ${opts.greetingDelayMs}`} }`,
      `log: { level: ${opts.logLevel ?? 'warn'} }`,
      '',
    ].join('\n'),
  );
  return { dir, configFile };
}

/** moonwatch in this process, from the TypeScript sources (scripts/smtp-elu.ts, harness.bench.ts). */
export async function startMoonwatch(policy: PolicyChoice, opts: MoonwatchOptions = {}): Promise<Target> {
  const { dir, configFile } = writeMoonwatchSetup(policy, opts);
  const config = parseConfig(readFileSync(configFile, 'utf8'), configFile);
  // warn: nothing per session, thrown away. info: the shipped logger (pino, JSON lines on stdout).
  const logger: Logger = opts.logLevel === 'info' ? createLogger({ level: 'info' }) : pino({ level: 'warn' }, new Writable({ write: (_c, _e, cb) => cb() }));
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

/** Plain smtp-server accepting everything (test/bench/plain-server.mjs, the one definition of the baseline). */
export async function startPlain(): Promise<Target> {
  const plain = (await import(String(new URL('./plain-server.mjs', import.meta.url)))) as { startPlain(): Promise<Target> };
  return plain.startPlain();
}

let nextAddress = 0;

/** The Node load client in a worker thread (the fallback when smtp-source is missing; harness.bench.ts). */
export function load(port: number, concurrency: number, window: { warmupMs: number; measureMs: number } = { warmupMs: WARMUP_MS, measureMs: MEASURE_MS }): Promise<LoadResult> {
  const entry = fileURLToPath(new URL('../smtp/lib/load-client.ts', import.meta.url));
  const req: LoadRequest = { entry, port, concurrency, ...window, body: BODY, firstAddress: nextAddress };
  const worker = new Worker(fileURLToPath(new URL('../smtp/lib/worker-boot.mjs', import.meta.url)), { workerData: req });
  return new Promise((resolve, reject) => {
    worker.once('message', (r: LoadResult) => {
      nextAddress += r.addressesUsed;
      void worker.terminate();
      resolve(r);
    });
    worker.once('error', reject);
  });
}
