/**
 * A series snapshot taken in slices, so a checkpoint of a large series never
 * holds the event loop for long (issue 16: 300,000 keys, ≤ 50 ms a slice).
 *
 * The first step copies the series' counter group (its typed arrays are
 * memcpy'd; the object graph around them is small), so later steps read a
 * private copy that sessions cannot change under them: the snapshot is the
 * state at that instant. Each later step exports a range of every table's
 * slots from the copy (a view of that range, no copy), through the same
 * export code as a whole snapshot (exportColumn), and the per-window counts
 * are merged by key.
 * A string series' windows are Maps; their entries are read in slices from
 * the live Maps, which JavaScript iterates safely while they change.
 */
import type { CounterGroup } from './counter-group.ts';
import { OpenTable } from './open-table.ts';
import type { SnapshotBucket } from './series-snapshot.ts';
import { exportColumn } from './snapshot-io.ts';

/** Table slots (or entries) read per step: about a millisecond of work on an idle machine. */
export const SLOTS_PER_SLICE = 2048;

/** Yields between steps; returns the buckets of column 0 as exportColumn would. */
export function* exportColumnSliced(group: CounterGroup, width: number, windows: number, sec: number): Generator<void, SnapshotBucket[]> {
  // Brings the live group to `sec` first, so the copy needs no rotation of its own.
  group.windowStart(0, sec);
  const tables: OpenTable[] = [];
  const copy = cloneGraph(group, tables);
  yield;
  const full = tables.map((t) => t.data);
  const maxSlots = Math.max(0, ...tables.map((t) => t.data.length / t.stride));
  const steps = Math.max(1, Math.ceil(maxSlots / SLOTS_PER_SLICE));
  const merged = new Map<number, Map<string, number>>();
  for (let s = 0; s < steps; s++) {
    // Each table shows only its s-th range of slots: the export code scans rows
    // linearly and reads counts by key words, so a view of the range is enough.
    tables.forEach((t, i) => {
      const slots = full[i]!.length / t.stride;
      t.data = full[i]!.subarray(Math.floor((s * slots) / steps) * t.stride, Math.floor(((s + 1) * slots) / steps) * t.stride);
    });
    for (const b of exportColumn(copy, 0, width, windows, sec)) {
      let m = merged.get(b.start);
      if (m === undefined) merged.set(b.start, (m = new Map()));
      for (const [k, n] of b.counts) m.set(k, (m.get(k) ?? 0) + n);
    }
    yield;
  }
  const out: SnapshotBucket[] = [];
  for (const start of [...merged.keys()].sort((a, b) => b - a)) {
    const counts: [string, number][] = [];
    let i = 0;
    for (const [k, n] of merged.get(start)!) {
      if (n !== 0) counts.push([k, n]);
      if (++i % SLOTS_PER_SLICE === 0) yield;
    }
    if (counts.length > 0) out.push({ start, counts });
  }
  return out;
}

/** Entries of string-series windows, read `per` at a time. */
export function* entriesSliced(windows: readonly { start: number; map: ReadonlyMap<string, number> }[], per = SLOTS_PER_SLICE): Generator<void, SnapshotBucket[]> {
  const out: SnapshotBucket[] = [];
  for (const { start, map } of windows) {
    const counts: [string, number][] = [];
    let i = 0;
    for (const e of map) {
      if (e[1] !== 0) counts.push([e[0], e[1]]);
      if (++i % per === 0) yield;
    }
    if (counts.length > 0) out.push({ start, counts });
  }
  return out;
}

/**
 * Deep copy that keeps prototypes (class instances stay instances), shares
 * functions, copies typed arrays, and keeps cycles (a table's owner pointing
 * back at its group). Every OpenTable met is listed in `tables`.
 */
function cloneGraph<T>(root: T, tables: OpenTable[]): T {
  const seen = new Map<object, unknown>();
  const clone = (v: unknown): unknown => {
    if (v === null || typeof v !== 'object') return v;
    const hit = seen.get(v);
    if (hit !== undefined) return hit;
    if (ArrayBuffer.isView(v)) {
      const c = (v as unknown as Int32Array).slice();
      seen.set(v, c);
      return c;
    }
    if (v instanceof Map) {
      const c = new Map();
      seen.set(v, c);
      for (const [k, x] of v) c.set(clone(k), clone(x));
      return c;
    }
    if (v instanceof Set) {
      const c = new Set();
      seen.set(v, c);
      for (const x of v) c.add(clone(x));
      return c;
    }
    if (Array.isArray(v)) {
      const c: unknown[] = [];
      seen.set(v, c);
      for (const x of v) c.push(clone(x));
      return c;
    }
    const c = Object.create(Object.getPrototypeOf(v) as object) as Record<string, unknown>;
    seen.set(v, c);
    for (const k of Object.keys(v)) c[k] = clone((v as Record<string, unknown>)[k]);
    if (v instanceof OpenTable) tables.push(c as unknown as OpenTable);
    return c;
  };
  return clone(root) as T;
}
