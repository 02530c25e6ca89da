/**
 * Main-thread time per SMTP session, for working on the SMTP throughput target
 * (issue 4): event-loop utilisation of the server while the bench's load client
 * (a worker thread) runs full sessions against it.
 *
 *   W=plain|front|noop|five|examples C=500 node --max-semi-space-size=32 --import tsx scripts/smtp-elu.ts
 *
 * plain = smtp-server accepting everything; front = moonwatch's SMTP front with
 * a policy engine that does nothing (no Lua, no store): what the front costs by
 * itself; noop = moonwatch with a one-line policy; five = the benchmarks'
 * five-phase policy; examples = the six example policies and the bench's probe.
 * Add --cpu-prof --cpu-prof-dir=DIR to node to profile the same run.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { SystemClock } from '../src/clock.ts';
import { parseConfig } from '../src/config/load.ts';
import type { PolicyEngine, PolicySession } from '../src/policy/session-api.ts';
import { CONTINUE } from '../src/policy/verdict.ts';
import { startSmtpServer } from '../src/smtp/server.ts';
import { DiscardSink } from '../src/smtp/sink.ts';
import { load, startMoonwatch, startPlain, type PolicyChoice, type Target } from '../test/bench/smtp-targets.ts';

const which = process.env['W'] ?? 'examples';
const concurrency = Number(process.env['C'] ?? 500);
if (!['plain', 'front', 'noop', 'five', 'examples'].includes(which)) throw new Error(`W must be plain, front, noop, five or examples, not ${which}`);

/** Every phase continues at once; the message goes straight to the sink. */
let opened = 0;
const nullEngine: PolicyEngine = {
  openSession(): PolicySession {
    const id = `s${++opened}`;
    const cont = async () => CONTINUE;
    return {
      id,
      generation: 1,
      connect: cont,
      ehlo: cont,
      mailFrom: cont,
      rcptTo: cont,
      async data(message, deliver) {
        await deliver({ sessionId: id, mailFrom: '', recipients: [], raw: message.raw });
        return CONTINUE;
      },
      reset: () => undefined,
      protocolRejection: () => undefined,
      close: () => undefined,
    };
  },
};

async function startFront(): Promise<Target> {
  const config = parseConfig(
    ['listen: ["127.0.0.1:0"]', 'hostname: mx.example.test', 'scripts: { dir: ., modules: [unused] }', 'limits: { max_connections: 5000, max_connections_per_ip: 50 }'].join('\n'),
    'front-only.yaml',
  );
  const logger = pino({ level: 'warn' }, new Writable({ write: (_c, _e, cb) => cb() }));
  const listener = await startSmtpServer({ config, engine: nullEngine, sink: new DiscardSink(), logger, clock: new SystemClock() });
  return { port: listener.addresses()[0]!.port, close: () => listener.close(0) };
}

const target = which === 'plain' ? await startPlain() : which === 'front' ? await startFront() : await startMoonwatch(which as PolicyChoice);
/**
 * CPU time of the main thread alone (utime + stime from /proc, in ms): unlike
 * ELU it does not count time the thread was runnable but descheduled, which on
 * a shared machine is most of the noise.
 */
function mainThreadCpuMs(): number {
  const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

const before = performance.eventLoopUtilization();
const cpuBefore = mainThreadCpuMs();
const r = await load(target.port, concurrency);
const cpu = mainThreadCpuMs() - cpuBefore;
const elu = performance.eventLoopUtilization(before);
// load() runs a warm-up then a measured window; ELU spans both, so divide by all sessions it ran.
const sessions = (r.rate * (elu.idle + elu.active)) / 1000;
console.log(
  `${which} @${concurrency}: ${r.rate.toFixed(0)} sessions/s, ELU ${elu.utilization.toFixed(2)}, ` +
    `~${(elu.active / sessions).toFixed(3)} ms main-thread time, ${(cpu / sessions).toFixed(3)} ms main-thread CPU per session`,
);
await target.close();
