import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { SeriesSnapshot, SnapshotBucket } from '../audit/series-snapshot.ts';
import { SERIES_TYPES, type SeriesType } from '../audit/series-args.ts';
import { writeFileAtomic } from './atomic-file.ts';
import { decodeState, encodeState } from './envelope.ts';
import { CorruptStateError } from './errors.ts';

export const SERIES_KIND = 'audit-series';
export const SERIES_SUFFIX = '.series';

/** Series names exclude "/", "\", control characters, "." and "..", so a name is a safe file name. */
export function seriesFile(dir: string, name: string): string {
  return join(dir, `${name}${SERIES_SUFFIX}`);
}

export function writeSeriesFile(path: string, snap: SeriesSnapshot): void {
  writeFileAtomic(path, encodeState(SERIES_KIND, snap));
}

/** Reads and checks a series file; ENOENT passes through, anything untrustworthy is a coded error. */
export function readSeriesFile(path: string): SeriesSnapshot {
  return checkSnapshot(decodeState(SERIES_KIND, readFileSync(path)));
}

/**
 * Moves a file that could not be used out of the way, keeping it for the
 * operator: `<file>.<reason>-<ts>`. Returns the new path.
 */
export function setAside(path: string, reason: 'corrupt' | 'reshaped', nowMs: number): string {
  const stamp = new Date(nowMs).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  let target = `${path}.${reason}-${stamp}`;
  for (let i = 1; existsSync(target); i++) target = `${path}.${reason}-${stamp}-${i}`;
  renameSync(path, target);
  return target;
}

/** The checksum proves the bytes are what we wrote; this proves what we wrote has the right shape. */
export function checkSnapshot(v: unknown): SeriesSnapshot {
  const o = record(v, 'snapshot');
  const name = o['name'];
  if (typeof name !== 'string' || name.length === 0) throw bad('name is missing');
  const type = o['type'];
  if (typeof type !== 'string' || !(SERIES_TYPES as readonly string[]).includes(type)) throw bad('type is invalid');
  const interval = positiveInt(o['interval'], 'interval');
  const windows = positiveInt(o['windows'], 'windows');
  const buckets = checkBuckets(o['buckets'], interval, 'series');
  return { name, type: type as SeriesType, interval, windows, buckets };
}

/** Window lists as both state files store them: aligned starts, [key, safe integer] entries. */
export function checkBuckets(raw: unknown, interval: number, what: string): SnapshotBucket[] {
  if (!Array.isArray(raw)) throw bad(`${what}: buckets is not a list`);
  return raw.map((b, i) => {
    const r = record(b, `${what} bucket ${i}`);
    const start = r['start'];
    if (typeof start !== 'number' || !Number.isSafeInteger(start) || start % interval !== 0) throw bad(`${what} bucket ${i} start is not aligned to the interval`);
    const counts = r['counts'];
    if (!Array.isArray(counts)) throw bad(`${what} bucket ${i} counts is not a list`);
    for (const e of counts) {
      if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || typeof e[1] !== 'number' || !Number.isSafeInteger(e[1])) {
        throw bad(`${what} bucket ${i} has a malformed entry`);
      }
    }
    return { start, counts: counts as [string, number][] };
  });
}

function record(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad(`${what} is not an object`);
  return v as Record<string, unknown>;
}

function positiveInt(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw bad(`${what} is not a positive integer`);
  return v;
}

function bad(message: string): CorruptStateError {
  return new CorruptStateError(`state file: ${message}`);
}
