/**
 * Main-thread time per SMTP session, for working on the SMTP throughput target
 * (issue 4): event-loop utilisation of the server while the bench's load client
 * (a worker thread) runs full sessions against it.
 *
 *   W=plain|noop|five|examples C=500 node --import tsx scripts/smtp-elu.ts
 *
 * plain = smtp-server accepting everything; noop = moonwatch with a one-line
 * policy; five = the benchmarks' five-phase policy; examples = the six example
 * policies and the bench's probe. Add --cpu-prof --cpu-prof-dir=DIR to node to
 * profile the same run.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { load, startMoonwatch, startPlain, type PolicyChoice } from '../test/bench/smtp.bench.ts';

const which = process.env['W'] ?? 'examples';
const concurrency = Number(process.env['C'] ?? 500);
if (!['plain', 'noop', 'five', 'examples'].includes(which)) throw new Error(`W must be plain, noop, five or examples, not ${which}`);

const target = which === 'plain' ? await startPlain() : await startMoonwatch(which as PolicyChoice);
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
