/**
 * Full SMTP sessions per second (connect, EHLO, MAIL, RCPT, DATA 1 KB, QUIT)
 * at 50 and 500 concurrent clients, through moonwatch running the example
 * policies plus a probe module, so five phases (connect, ehlo, mailfrom,
 * rcptto, data) each query the store. The baseline is a plain smtp-server
 * that accepts everything, measured in the same run with the same client.
 *
 * The load client runs in a worker thread (test/smtp/lib/load-client.ts), so
 * client work does not eat into the server's main thread. Both servers run
 * side by side and are measured in alternating windows (plain, moonwatch,
 * moonwatch, plain): the machine's load drifts, and measuring one after the
 * other let that drift land on one side of the ratio only.
 *
 * Each session comes from its own loopback address (127.a.b.c, consecutive
 * sessions in different /24s), as real traffic does: the example limits are
 * per IP and per /24, and a load from one address would only measure the
 * 421s of ip_rate and session_cap.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { SMTPServer, type SMTPServerDataStream } from 'smtp-server';
import { AuditStore } from '../../src/audit/store.ts';
import { SystemClock } from '../../src/clock.ts';
import { parseConfig } from '../../src/config/load.ts';
import { engineOptionsFrom, storeOptionsFrom } from '../../src/config/schema.ts';
import { createEngine } from '../../src/policy/engine.ts';
import { startSmtpServer } from '../../src/smtp/server.ts';
import { DiscardSink } from '../../src/smtp/sink.ts';
import type { LoadRequest, LoadResult } from '../smtp/lib/load-client.ts';
import { FIVE_PHASES } from './policies.ts';
import { result, type BenchResult } from './lib.ts';

const WARMUP_MS = 2000;
const MEASURE_MS = 4000;
/** Per alternating window: two windows per server add up to the same 4 s measured. */
const WINDOW = { warmupMs: 1000, measureMs: 2000 } as const;
const BODY = `From: load@sender.example\r\nTo: alice@example.test\r\nSubject: bench\r\n\r\n${'x'.repeat(74)}\r\n`.repeat(12).slice(0, 1024);

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

export async function startMoonwatch(policy: PolicyChoice): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'mw-bench-'));
  cpSync('examples/policies', join(dir, 'policies'), { recursive: true });
  writeFileSync(join(dir, 'policies', 'probe.lua'), PROBE);
  writeFileSync(join(dir, 'policies', 'five.lua'), FIVE_PHASES);
  writeFileSync(join(dir, 'policies', 'noop.lua'), 'local m = {} function m:validate_connect() return 0 end msys.registerModule("noop", m)');
  const modules = MODULES[policy];
  const config = parseConfig(
    [
      'listen: ["127.0.0.1:0"]',
      'hostname: mx.example.test',
      'inbound_audit: { monitors: ["60,10", "300,6"] }',
      'scripts:',
      '  dir: policies',
      `  modules: [${modules}]`,
      '  hot_reload: false',
      'limits: { max_connections: 5000, max_connections_per_ip: 50 }',
    ].join('\n'),
    join(dir, 'moonwatch.yaml'),
  );
  // Decisions are logged at info; the benchmark measures the SMTP path, so
  // it keeps warnings only and throws them away.
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

export async function startPlain(): Promise<Target> {
  const server = new SMTPServer({
    name: 'mx.example.test',
    disabledCommands: ['AUTH', 'STARTTLS'],
    hideSTARTTLS: true,
    authOptional: true,
    disableReverseLookup: true,
    logger: false,
    onData(stream: SMTPServerDataStream, _session, cb) {
      stream.on('data', () => undefined);
      stream.on('end', () => cb());
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.server.address() as { port: number }).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let nextAddress = 0;

/** Runs the load client in a worker thread: the server keeps the main thread to itself. */
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

const LABEL: Record<'examples' | 'five', string> = {
  examples: 'the six example policies + a probe, 5 store-querying phases',
  five: 'one five-phase policy, each phase querying the store',
};

export default async function (): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  for (const policy of ['examples', 'five'] as const) {
    for (const concurrency of [50, 500]) {
      const plain = await startPlain();
      const mw = await startMoonwatch(policy);
      const runs = { plain: [] as LoadResult[], mw: [] as LoadResult[] };
      for (const which of ['plain', 'mw', 'mw', 'plain'] as const) {
        runs[which].push(await load((which === 'plain' ? plain : mw).port, concurrency, WINDOW));
      }
      await plain.close();
      await mw.close();
      const base = combine(runs.plain);
      const ours = combine(runs.mw);
      if (base.failed + ours.failed > 0) {
        process.stderr.write(`smtp bench @${concurrency}: failed sessions plain=${base.failed} moonwatch=${ours.failed}\n`);
      }
      out.push(
        result({
          name: `smtp full sessions/s, ${concurrency} concurrent (${LABEL[policy]})`,
          value: ours.rate,
          unit: 'sessions/s',
          baseline: base.rate,
          targetOn: 'ratio',
          cmp: '>=',
          limit: 0.85,
        }),
      );
    }
  }
  return out;
}

/** Sessions over the summed measured time of several windows. */
function combine(results: LoadResult[]): { rate: number; failed: number } {
  const completed = results.reduce((n, r) => n + r.completed, 0);
  const elapsedMs = results.reduce((n, r) => n + r.elapsedMs, 0);
  return { rate: elapsedMs > 0 ? (completed / elapsedMs) * 1000 : 0, failed: results.reduce((n, r) => n + r.failed, 0) };
}
