/**
 * IPv6 sprays against the cap (issue 16), cap set to 1,000,000, monitors
 * 300,6 and 1800,4. Memory is heap + array buffers after GC (as in
 * store.bench.ts); `scripts/v6-spray-mem.ts` gives the RSS of each spray in a
 * fresh process.
 *
 *  - 1,000,000 random /128s inside one /64, beside the same store fed
 *    1,000,000 events from one address: the spray must cost what one /64
 *    costs (target: within 1 MB of it).
 *  - 1,000,000 distinct /64s, per address, beside a Map of bigint keys: the
 *    store's per-address budget is 300 B.
 */
import { ipv6 } from '../../src/audit/address.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { ManualClock } from '../../src/clock.ts';
import { captureLogger } from '../../src/log.ts';
import { memoryAfterGc, random, result, type BenchResult } from './lib.ts';

const N = 1_000_000;

const newStore = (): AuditStore =>
  new AuditStore({ clock: new ManualClock(Date.UTC(2024, 0, 1, 10)), logger: captureLogger('error').logger, monitors: ['300,6', '1800,4'], maxTrackedPerMonitor: N });

/** Memory growth (bytes) while fill() builds something that is kept until measured. */
function grow(fill: () => unknown): number {
  const before = memoryAfterGc();
  const kept = fill();
  const bytes = memoryAfterGc() - before;
  if (kept === undefined) throw new Error('nothing kept');
  return bytes;
}

export default async function storeV6SprayBench(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const MB = 1e6;

  const single = grow(() => {
    const s = newStore();
    for (let i = 0; i < N; i++) s.record('connections', ipv6(0x20010db8, 0x00070001, 0, 1));
    return s;
  });
  const one64 = grow(() => {
    const next = random(1);
    const s = newStore();
    for (let i = 0; i < N; i++) s.record('connections', ipv6(0x20010db8, 0x00070001, next(), next()));
    return s;
  });
  results.push(result({ name: 'IPv6 spray: 1M /128s in one /64, memory', value: one64 / MB, unit: 'MB', baseline: single / MB, targetOn: 'value', cmp: '<=', limit: Math.round(single / MB + 1) }));

  const naive = grow(() => {
    const next = random(2);
    const m = new Map<bigint, number>();
    for (let i = 0; i < N; i++) m.set((BigInt(0x20010000 | (next() & 0x3f)) << 96n) | (BigInt(next()) << 64n) | (BigInt(next()) << 32n) | BigInt(next()), 1);
    return m;
  });
  const many64 = grow(() => {
    const next = random(2);
    const s = newStore();
    for (let i = 0; i < N; i++) s.record('connections', ipv6(0x20010000 | (next() & 0x3f), next(), next(), next()));
    return s;
  });
  results.push(result({ name: 'IPv6 spray: 1M distinct /64s, memory per address', value: many64 / N, unit: 'B', baseline: naive / N, targetOn: 'value', cmp: '<=', limit: 300 }));
  return results;
}
