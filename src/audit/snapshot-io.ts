import { formatAddress } from './address.ts';
import type { CounterGroup } from './counter-group.ts';
import type { SnapshotBucket } from './series-snapshot.ts';

/**
 * Windows as plain data and back (persistence, console `load`). Exports carry
 * each window's epoch-aligned start; imports place an entry by how many
 * windows ago its start was, so downtime ages saved counts exactly as if the
 * process had kept running.
 */

/** Column c's windows 0..N−1 that hold per-address counts. */
export function exportColumn(group: CounterGroup, c: number, width: number, windows: number, sec: number): SnapshotBucket[] {
  const start0 = group.windowStart(c, sec);
  const out: SnapshotBucket[] = [];
  for (let k = 0; k < windows; k++) {
    const hosts = group.hostCounts(c, k, sec);
    if (hosts.length > 0) out.push({ start: start0 - k * width, counts: hosts.map(([a, n]) => [formatAddress(a), n]) });
  }
  return out;
}

export interface CheckedEntry<K> {
  start: number;
  key: K;
  count: number;
}

/**
 * Validates every bucket and entry before anything is loaded, so a bad file
 * changes nothing. Keys are parsed by `parseKey` (which throws its own coded
 * errors); `fail` builds the error for everything else.
 */
export function checkBuckets<K>(
  buckets: unknown,
  width: number,
  parseKey: (text: string) => K,
  fail: (message: string) => Error,
  positiveOnly: boolean,
): CheckedEntry<K>[] {
  if (!Array.isArray(buckets)) throw fail('snapshot buckets must be a list');
  const out: CheckedEntry<K>[] = [];
  buckets.forEach((b: unknown, i) => {
    const r = b as SnapshotBucket | null;
    if (r === null || typeof r !== 'object') throw fail(`snapshot bucket ${i} is not an object`);
    if (typeof r.start !== 'number' || !Number.isSafeInteger(r.start) || r.start % width !== 0) {
      throw fail(`snapshot bucket ${i}: start must be a multiple of ${width} seconds`);
    }
    if (!Array.isArray(r.counts)) throw fail(`snapshot bucket ${i}: counts must be a list`);
    for (const e of r.counts as unknown[]) {
      if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || typeof e[1] !== 'number') {
        throw fail(`snapshot bucket ${i}: an entry is not a [key, count] pair`);
      }
      const count = e[1];
      if (!Number.isSafeInteger(count) || count === 0 || (positiveOnly && count < 0)) {
        throw fail(`snapshot bucket ${i}: count ${count} for ${JSON.stringify(e[0]).slice(0, 60)} is not a ${positiveOnly ? 'positive' : 'non-zero'} whole number`);
      }
      out.push({ start: r.start, key: parseKey(e[0]), count });
    }
  });
  return out;
}

/** Window index (age) of a saved window start, or −1 when it is older than the N windows kept; future starts read as now. */
export function ageOf(start: number, start0: number, width: number, windows: number): number {
  const age = Math.max(0, (start0 - start) / width);
  return age > windows - 1 ? -1 : age;
}
