import type { GroupState } from './group-state.ts';
import * as HT from './hot-table.ts';
import type { HotTable } from './hot-table.ts';
import * as KT from './key-table.ts';
import type { AddOutcome } from './key-table.ts';
import * as L4 from './levels-v4.ts';
import * as TB from './track-budget.ts';

// Imported bindings are live: when tsx loads this module through its CommonJS
// path each read is a getter call (measured: a third of the record time). The
// per-event path reads module-local copies, whatever loaded the module.
const { CREATED, DELETED, REFUSED, UPDATED, sizeDelta } = KT;
const { planV4, V4_16, V4_24, V4_27, V4_HOST, V4_SHIFT, V4_TIER } = L4;
const { TIER_V4_24, TIER_V4_HOST } = TB;
const { HotTable: HotTableClass, addInPlace } = HT;

/**
 * IPv4 side of a counter group. The hashed levels (/32, /27, /24, /16) live in
 * hot rows shared by the group's monitors; a row's count for a monitor moves
 * to that monitor's frozen window the first time the row is touched after the
 * window closed. The direct levels (/8, /0) are per window bucket. Cap rules
 * are those of V4Levels.
 */
export class HotV4 {
  private readonly t: readonly HotTable[];
  private readonly g: GroupState;
  /** Where prefetch reads land, so the compiler cannot drop them. */
  private sink = 0;

  constructor(g: GroupState) {
    this.g = g;
    this.t = [0, 1, 2, 3].map(() => new HotTableClass(1, g.cols, g.nextSeed()));
  }

  add(a: number, delta: number): void {
    const g = this.g;
    const b = g.budget;
    const used = b.used;
    const roomHost = used[TIER_V4_HOST]! < b.cap;
    // Touch every level's home slot first: the misses overlap, and the probes
    // below then hit the cache (measured: record time halved at 1M tracked).
    const t = this.t;
    this.sink = t[V4_HOST]!.prefetch1(a) ^ t[V4_27]!.prefetch1(a >>> 5) ^ t[V4_24]!.prefetch1(a >>> 8) ^ t[V4_16]!.prefetch1(a >>> 16);
    const r = this.touch(V4_HOST, a, delta, roomHost);
    const r27 = this.touch(V4_27, a >>> 5, delta, roomHost);
    const r24 = this.touch(V4_24, a >>> 8, delta, roomHost || used[TIER_V4_24]! < b.cap);
    this.touch(V4_16, a >>> 16, delta, true);
    for (let c = 0; c < g.cols; c++) {
      const lv = g.bucket(c, 0).v4Levels();
      lv.l8[a >>> 24]! += delta;
      lv.total += delta;
    }
    if (r === REFUSED) {
      b.degraded++;
    } else {
      used[TIER_V4_HOST]! += sizeDelta(r);
      // A level must accept whatever a finer one accepted (see levels-v4.ts).
      if (r27 === REFUSED) this.touch(V4_27, a >>> 5, delta, true);
    }
    used[TIER_V4_24]! += sizeDelta(r24 !== REFUSED || r === REFUSED ? r24 : this.touch(V4_24, a >>> 8, delta, true));
  }

  /** Column c's sum for net/p over windows s..e (0 ≤ s ≤ e ≤ N). */
  count(c: number, net: number, p: number, s: number, e: number): number {
    const g = this.g;
    const plan = planV4(net, p);
    if (plan.span === 1 && plan.level >= 0) {
      // One key per window: start every window's miss at once (see add).
      let sink = this.t[plan.level]!.prefetch1(plan.base);
      for (let k = s; k <= e; k++) {
        const t = g.peek(c, k)?.v4?.t[plan.level];
        if (t !== undefined && t.size !== 0) sink ^= t.prefetch1(plan.base);
      }
      this.sink = sink;
    }
    let sum = 0;
    for (let k = s; k <= e; k++) {
      const lv = g.peek(c, k)?.v4;
      if (lv != null) sum += lv.sumPlan(plan.level, plan.base, plan.span);
    }
    if (plan.level < 0) return sum;
    const t = this.t[plan.level]!;
    if (t.size === 0) return sum;
    const hi = g.tags[c]! - s;
    const lo = g.tags[c]! - e;
    for (let i = 0; i < plan.span; i++) {
      const o = t.find1(plan.base + i);
      if (o < 0) continue;
      const tag = t.tag(o, c);
      if (tag >= lo && tag <= hi) sum += t.count(o, c);
    }
    return sum;
  }

  /** Takes the host out of every window of every column; true if it was counted anywhere. */
  remove(a: number): boolean {
    const g = this.g;
    let removed = false;
    const host = this.t[V4_HOST]!;
    const o = host.find1(a);
    if (o >= 0) {
      const counts: number[] = [];
      const ages: number[] = [];
      for (let c = 0; c < g.cols; c++) {
        counts.push(host.count(o, c));
        ages.push(g.tags[c]! - host.tag(o, c));
      }
      host.removeAt(o);
      g.budget.used[TIER_V4_HOST]! -= 1;
      for (let c = 0; c < g.cols; c++) {
        if (counts[c] === 0) continue;
        removed = true;
        if (ages[c]! <= g.windows[c]!) this.subtract(c, ages[c]!, a, counts[c]!, V4_27);
      }
    }
    for (let c = 0; c < g.cols; c++) {
      for (let k = 0; k <= g.windows[c]!; k++) {
        const cnt = g.peek(c, k)?.v4?.host.get1(a) ?? 0;
        if (cnt === 0) continue;
        removed = true;
        this.subtract(c, k, a, cnt, V4_HOST);
      }
    }
    return removed;
  }

  /** Frees rows whose every count is zero or older than its column keeps. */
  sweep(): void {
    const g = this.g;
    this.t.forEach((t, level) => {
      t.sweep((o) => {
        for (let c = 0; c < g.cols; c++) {
          if (t.count(o, c) !== 0 && g.tags[c]! - t.tag(o, c) <= g.windows[c]!) return false;
        }
        const tier = V4_TIER[level]!;
        if (tier >= 0) g.budget.used[tier]! -= 1;
        return true;
      });
      t.compact();
    });
  }

  /** Calls fn(address, count) for each host row holding column c's count of the window `age`. */
  forEachHost(c: number, age: number, fn: (a: number, count: number) => void): void {
    const g = this.g;
    const t = this.t[V4_HOST]!;
    t.forEachRow((o) => {
      const n = t.count(o, c);
      if (n !== 0 && g.tags[c]! - t.tag(o, c) === age) fn(t.word(o, 0), n);
    });
  }

  /** Zeroes column c in every row, freeing rows no other column uses. */
  clearColumn(c: number): void {
    const g = this.g;
    this.t.forEach((t, level) => {
      t.sweep((o) => {
        t.setCount(o, c, 0);
        if (!t.isZero(o)) return false;
        const tier = V4_TIER[level]!;
        if (tier >= 0) g.budget.used[tier]! -= 1;
        return true;
      });
    });
  }

  get hostRows(): number {
    return this.t[V4_HOST]!.size;
  }

  private touch(level: number, key: number, delta: number, create: boolean): AddOutcome {
    const t = this.t[level]!;
    const g = this.g;
    const tags = g.tags;
    const cols = g.cols;
    let o = t.find1(key);
    if (o < 0) {
      if (!create) return REFUSED;
      o = t.insert(key, 0, 0, 0, tags);
      for (let c = 0; c < cols; c++) t.addCount(o, c, delta);
      return CREATED;
    }
    // Row layout for 1-word keys: key, then (tag, count) per column.
    const d = t.data;
    let zero = true;
    for (let c = 0; c < cols; c++) {
      const at = o + 1 + 2 * c;
      if (d[at] !== tags[c]) this.migrate(level, t, o, c, key);
      let n = addInPlace(d, at + 1, delta);
      if (n !== n) {
        t.addCount(o, c, delta);
        n = t.count(o, c);
      }
      if (n !== 0) zero = false;
    }
    if (zero) {
      t.removeAt(o);
      return DELETED;
    }
    return UPDATED;
  }

  /** Moves column c's count of a row into the frozen window it belongs to, and restarts the column. */
  private migrate(level: number, t: HotTable, o: number, c: number, key: number): void {
    const g = this.g;
    const cnt = t.count(o, c);
    const age = g.tags[c]! - t.tag(o, c);
    if (cnt !== 0 && age <= g.windows[c]!) {
      const r = g.bucket(c, age).v4Levels().t[level]!.add1(key, cnt, true);
      const tier = V4_TIER[level]!;
      if (tier >= 0) g.budget.used[tier]! += sizeDelta(r);
    }
    t.setTag(o, c, g.tags[c]!);
    t.setCount(o, c, 0);
  }

  /** Subtracts cnt of host a from window `age` of column c, on levels from `from` up. */
  private subtract(c: number, age: number, a: number, cnt: number, from: number): void {
    const g = this.g;
    for (let level = from; level <= V4_16; level++) {
      const key = a >>> V4_SHIFT[level]!;
      const t = this.t[level]!;
      const o = t.find1(key);
      const tier = V4_TIER[level]!;
      if (o >= 0 && g.tags[c]! - t.tag(o, c) === age) {
        t.addCount(o, c, -cnt);
        if (t.isZero(o)) {
          t.removeAt(o);
          if (tier >= 0) g.budget.used[tier]! -= 1;
        }
        continue;
      }
      const r = g.bucket(c, age).v4Levels().t[level]!.add1(key, -cnt, true);
      if (tier >= 0) g.budget.used[tier]! += sizeDelta(r);
    }
    const lv = g.bucket(c, age).v4Levels();
    lv.l8[a >>> 24]! -= cnt;
    lv.total -= cnt;
  }
}
