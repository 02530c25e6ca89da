import type { GroupState } from './group-state.ts';
import { HotTable } from './hot-table.ts';
import * as KT from './key-table.ts';
import type { AddOutcome } from './key-table.ts';
import * as L4 from './levels-v4.ts';
import * as TB from './track-budget.ts';

// tsx turns imported bindings into getter calls; the per-event path reads
// module-local copies instead (measured: a third of the record time).
const { CREATED, DELETED, REFUSED, UPDATED, sizeDelta } = KT;
const { planV4, V4_16, V4_24, V4_27, V4_HOST, V4_SHIFT, V4_TIER } = L4;
const { TIER_V4_24, TIER_V4_HOST } = TB;

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

  constructor(g: GroupState) {
    this.g = g;
    this.t = [0, 1, 2, 3].map(() => new HotTable(1, g.cols, g.nextSeed()));
  }

  add(a: number, delta: number): void {
    const g = this.g;
    const b = g.budget;
    const used = b.used;
    const roomHost = used[TIER_V4_HOST]! < b.cap;
    // Independent probes first, so their cache misses overlap; bookkeeping after.
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

  get hostRows(): number {
    return this.t[V4_HOST]!.size;
  }

  private touch(level: number, key: number, delta: number, create: boolean): AddOutcome {
    const t = this.t[level]!;
    const g = this.g;
    const tags = g.tags;
    let o = t.find1(key);
    if (o < 0) {
      if (!create) return REFUSED;
      o = t.insert(key, 0, 0, 0, tags);
      for (let c = 0; c < g.cols; c++) t.addCount(o, c, delta);
      return CREATED;
    }
    for (let c = 0; c < g.cols; c++) {
      if (t.tag(o, c) !== tags[c]) this.migrate(level, t, o, c, key);
      t.addCount(o, c, delta);
    }
    if (t.isZero(o)) {
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
