/**
 * One benchmark server in a process of its own, so /proc/<pid>/stat gives its
 * CPU time (every thread: main, libuv pool, GC) and nothing else's.
 *
 *   node --max-semi-space-size=32 --import tsx test/bench/smtp-server-child.ts plain|five|examples [warn|info]
 *
 * A third argument sets limits.greeting_delay_ms.
 *
 * Started by smtp.bench.ts with an IPC channel: it sends { port } once
 * listening, and closes and exits on "stop" or when the parent goes away.
 */
import { startMoonwatch, startPlain, type Target } from './smtp-targets.ts';

const kind = process.argv[2] ?? 'plain';
const logLevel = process.argv[3] === 'info' ? 'info' : 'warn';
const greetingDelayMs = process.argv[4] === undefined ? undefined : Number(process.argv[4]);
if (!['plain', 'five', 'examples'].includes(kind)) throw new Error(`kind must be plain, five or examples, not ${kind}`);

const target: Target =
  kind === 'plain' ? await startPlain() : await startMoonwatch(kind as 'five' | 'examples', { relaxed: true, logLevel, maxConnectionsPerIp: 100_000, ...(greetingDelayMs === undefined ? {} : { greetingDelayMs }) });

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await target.close();
  process.exit(0);
}

process.on('message', (m) => {
  if (m === 'stop') void stop();
});
process.on('disconnect', () => void stop());
process.send?.({ port: target.port, pid: process.pid });
