/**
 * node --expose-gc --import tsx scripts/v6-spray-mem.ts one64|many64|single [events]
 *
 * RSS growth of an audit store (monitors 300,6 and 1800,4, cap 1,000,000)
 * under an IPv6 spray, in a fresh process so that RSS means something:
 *   one64   1,000,000 random /128s inside one /64
 *   many64  1,000,000 distinct /64s (one address each, 64 /32s)
 *   single  1,000,000 events from one address (what one /64 costs)
 * Prints one JSON line. Issue 16's budget: ≤ 300 B per address, ≤ +300 MB.
 */
import { ipv6 } from '../src/audit/address.ts';
import { AuditStore } from '../src/audit/store.ts';
import { ManualClock } from '../src/clock.ts';
import { captureLogger } from '../src/log.ts';

const kind = process.argv[2] ?? 'one64';
const n = Number(process.argv[3] ?? 1_000_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');
let s = 42;
const next = (): number => {
  s = (s + 0x6d2b79f5) >>> 0;
  let t = Math.imul(s ^ (s >>> 15), 1 | s);
  t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
  return (t ^ (t >>> 14)) >>> 0;
};
gc();
gc();
const before = process.memoryUsage();
const store = new AuditStore({ clock: new ManualClock(Date.UTC(2024, 0, 1, 10)), logger: captureLogger('error').logger, monitors: ['300,6', '1800,4'], maxTrackedPerMonitor: 1_000_000 });
const t0 = performance.now();
for (let i = 0; i < n; i++) {
  if (kind === 'one64') store.record('connections', ipv6(0x20010db8, 0x00070001, next(), next()));
  else if (kind === 'many64') store.record('connections', ipv6(0x20010000 | (next() & 0x3f), next(), next(), next()));
  else store.record('connections', ipv6(0x20010db8, 0x00070001, 0, 1));
}
const ms = performance.now() - t0;
gc();
gc();
const after = process.memoryUsage();
const mb = (b: number): number => Math.round(b / 1e5) / 10;
console.log(JSON.stringify({ kind, events: n, ms: Math.round(ms), rssMB: mb(after.rss - before.rss), heapAndBuffersMB: mb(after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers), bytesPerEvent: Math.round((after.rss - before.rss) / n), stats: store.stats() }));
