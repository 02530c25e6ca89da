import type { GroupState } from './group-state.ts';
import * as HT from './hot-table.ts';
import type { HotTable } from './hot-table.ts';
import * as KT from './key-table.ts';
import type { AddOutcome, KeyTable } from './key-table.ts';
import * as L6 from './levels-v6.ts';
import * as TB from './track-budget.ts';

// Module-local copies of imported constants: see hot-v4.ts.
const { CREATED, DELETED, KeyTable: KeyTableClass, REFUSED, UPDATED, sizeDelta } = KT;
const { HI16, masksOf, planV6, V6_32, V6_48, V6_64, V6_HOST, V6_TIER } = L6;
const { TIER_V6_32, TIER_V6_48, TIER_V6_64, TIER_V6_HOST } = TB;
const { HotTable: HotTableClass, addInPlace } = HT;

/**
 * IPv6 side of a counter group: /128, /64, /48 and /32 in hot rows shared by
 * the group's monitors (see HotV4), /0 per window bucket. Cap rules are those
 * of V6Levels, plus one more: a /64 holds at most V6_HOSTS_PER_64 host rows.
 * One peer owns a whole /64 and can spray 2^64 addresses from it; past the
 * allowance its new addresses aggregate at /64 (counted as degraded), so a
 * spray of a million /128s in one /64 costs what one /64 costs instead of
 * using up the cap every other sender shares.
 */
const WIDTH = [4, 2, 2, 1] as const;

/** Host rows one /64 may hold before its further addresses count at /64 only. */
export const V6_HOSTS_PER_64 = 64;

export class HotV6 {
  private readonly t: readonly HotTable[];
  private readonly g: GroupState;
  /** Where prefetch reads land (see HotV4). */
  private sink = 0;
  /** /64 → host rows it holds in t[V6_HOST]: the per-/64 allowance's census. */
  private readonly hostsPer64: KeyTable;

  constructor(g: GroupState) {
    this.g = g;
    this.t = WIDTH.map((w) => new HotTableClass(w, g.cols, g.nextSeed()));
    this.hostsPer64 = new KeyTableClass(2, g.nextSeed());
  }

  add(w0: number, w1: number, w2: number, w3: number, delta: number): void {
    const g = this.g;
    const b = g.budget;
    const used = b.used;
    const cap = b.cap;
    const room128 = used[TIER_V6_HOST]! < cap;
    const room64 = room128 || used[TIER_V6_64]! < cap;
    const room48 = room64 || used[TIER_V6_48]! < cap;
    const t = this.t;
    this.sink = t[V6_HOST]!.prefetch4(w0, w1, w2, w3) ^ t[V6_64]!.prefetch2(w0, w1) ^ t[V6_48]!.prefetch2(w0, w1 & HI16) ^ t[V6_32]!.prefetch1(w0);
    const r128 = this.touch(V6_HOST, w0, w1, w2, w3, delta, room128);
    let r64 = this.touch(V6_64, w0, w1, 0, 0, delta, room64);
    let r48 = this.touch(V6_48, w0, w1 & HI16, 0, 0, delta, room48);
    let r32 = this.touch(V6_32, w0, 0, 0, 0, delta, room48 || used[TIER_V6_32]! < cap);
    for (let c = 0; c < g.cols; c++) g.bucket(c, 0).v6Levels().total += delta;
    if (r128 === REFUSED) b.degraded++;
    else used[TIER_V6_HOST]! += sizeDelta(r128);
    // A level must accept whatever a finer one accepted (see levels-v4.ts).
    if (r64 === REFUSED && r128 !== REFUSED) r64 = this.touch(V6_64, w0, w1, 0, 0, delta, true);
    used[TIER_V6_64]! += sizeDelta(r64);
    if (r48 === REFUSED && r64 !== REFUSED) r48 = this.touch(V6_48, w0, w1 & HI16, 0, 0, delta, true);
    used[TIER_V6_48]! += sizeDelta(r48);
    if (r32 === REFUSED && r48 !== REFUSED) r32 = this.touch(V6_32, w0, 0, 0, 0, delta, true);
    used[TIER_V6_32]! += sizeDelta(r32);
  }

  count(c: number, w0: number, w1: number, w2: number, w3: number, p: number, s: number, e: number): number {
    const g = this.g;
    const plan = planV6(w0, w1, w2, w3, p);
    if (plan.span === 1 && plan.level >= 0) {
      // One key per window: start every window's miss at once (see HotV4.add).
      let sink = 0;
      for (let k = s; k <= e; k++) {
        const lv = g.peek(c, k)?.v6;
        if (lv != null) sink ^= lv.prefetch(plan.level, plan.k0, plan.k1, plan.k2, plan.k3);
      }
      const t = this.t[plan.level]!;
      if (plan.level === V6_HOST) sink ^= t.prefetch4(plan.k0, plan.k1, plan.k2, plan.k3);
      else if (plan.level === V6_32) sink ^= t.prefetch1(plan.k0);
      else sink ^= t.prefetch2(plan.k0, plan.k1);
      this.sink = sink;
    }
    let sum = 0;
    for (let k = s; k <= e; k++) {
      const lv = g.peek(c, k)?.v6;
      if (lv != null) sum += lv.sumPlan(plan);
    }
    if (plan.level < 0) return sum;
    const t = this.t[plan.level]!;
    if (t.size === 0) return sum;
    const hi = g.tags[c]! - s;
    const lo = g.tags[c]! - e;
    if (plan.span === 0) {
      return sum + t.sumMatching([plan.k0 | 0, plan.k1 | 0, plan.k2 | 0, plan.k3 | 0], masksOf(plan.prefix), c, lo, hi);
    }
    let { k0, k1, k3 } = plan;
    for (let i = 0; i < plan.span; i++) {
      const o = find(t, plan.level, k0, k1, plan.k2, k3);
      if (o >= 0) {
        const tag = t.tag(o, c);
        if (tag >= lo && tag <= hi) sum += t.count(o, c);
      }
      if (plan.level === V6_32) k0 += plan.step;
      else if (plan.level === V6_HOST) k3 += plan.step;
      else k1 += plan.step;
    }
    return sum;
  }

  remove(w0: number, w1: number, w2: number, w3: number): boolean {
    const g = this.g;
    let removed = false;
    const host = this.t[V6_HOST]!;
    const o = host.find4(w0, w1, w2, w3);
    if (o >= 0) {
      const counts: number[] = [];
      const ages: number[] = [];
      for (let c = 0; c < g.cols; c++) {
        counts.push(host.count(o, c));
        ages.push(g.tags[c]! - host.tag(o, c));
      }
      host.removeAt(o);
      g.budget.used[TIER_V6_HOST]! -= 1;
      this.hostGone(w0, w1);
      for (let c = 0; c < g.cols; c++) {
        if (counts[c] === 0) continue;
        removed = true;
        if (ages[c]! <= g.windows[c]!) this.subtract(c, ages[c]!, w0, w1, w2, w3, counts[c]!, V6_64);
      }
    }
    for (let c = 0; c < g.cols; c++) {
      for (let k = 0; k <= g.windows[c]!; k++) {
        const cnt = g.peek(c, k)?.v6?.host.get4(w0, w1, w2, w3) ?? 0;
        if (cnt === 0) continue;
        removed = true;
        this.subtract(c, k, w0, w1, w2, w3, cnt, V6_HOST);
      }
    }
    return removed;
  }

  sweep(): void {
    const g = this.g;
    this.t.forEach((t, level) => {
      t.sweep((o) => {
        for (let c = 0; c < g.cols; c++) {
          if (t.count(o, c) !== 0 && g.tags[c]! - t.tag(o, c) <= g.windows[c]!) return false;
        }
        g.budget.used[V6_TIER[level]!]! -= 1;
        if (level === V6_HOST) this.hostGone(t.word(o, 0), t.word(o, 1));
        return true;
      });
      t.compact();
    });
    this.hostsPer64.compact();
  }

  /** Calls fn(words, count) for each host row holding column c's count of the window `age`. */
  forEachHost(c: number, age: number, fn: (w0: number, w1: number, w2: number, w3: number, count: number) => void): void {
    const g = this.g;
    const t = this.t[V6_HOST]!;
    t.forEachRow((o) => {
      const n = t.count(o, c);
      if (n !== 0 && g.tags[c]! - t.tag(o, c) === age) fn(t.word(o, 0), t.word(o, 1), t.word(o, 2), t.word(o, 3), n);
    });
  }

  /** Zeroes column c in every row, freeing rows no other column uses. */
  clearColumn(c: number): void {
    const g = this.g;
    this.t.forEach((t, level) => {
      t.sweep((o) => {
        t.setCount(o, c, 0);
        if (!t.isZero(o)) return false;
        g.budget.used[V6_TIER[level]!]! -= 1;
        if (level === V6_HOST) this.hostGone(t.word(o, 0), t.word(o, 1));
        return true;
      });
    });
  }

  get hostRows(): number {
    return this.t[V6_HOST]!.size;
  }

  /** A host row of this /64 was removed: give its place in the allowance back. */
  private hostGone(w0: number, w1: number): void {
    this.hostsPer64.add2(w0, w1, -1, true);
  }

  private touch(level: number, k0: number, k1: number, k2: number, k3: number, delta: number, create: boolean): AddOutcome {
    const t = this.t[level]!;
    const g = this.g;
    const tags = g.tags;
    let o = find(t, level, k0, k1, k2, k3);
    if (o < 0) {
      if (!create) return REFUSED;
      if (level === V6_HOST) {
        // The census is read only for a new host: existing rows cost no extra probe.
        if (this.hostsPer64.get2(k0, k1) >= V6_HOSTS_PER_64) return REFUSED;
        this.hostsPer64.add2(k0, k1, 1, true);
      }
      o = t.insert(k0, k1, k2, k3, tags);
      for (let c = 0; c < g.cols; c++) t.addCount(o, c, delta);
      return CREATED;
    }
    const d = t.data;
    const w = t.width;
    let zero = true;
    for (let c = 0; c < g.cols; c++) {
      const at = o + w + 2 * c;
      if (d[at] !== tags[c]) this.migrate(level, t, o, c, k0, k1, k2, k3);
      let n = addInPlace(d, at + 1, delta);
      if (n !== n) {
        t.addCount(o, c, delta);
        n = t.count(o, c);
      }
      if (n !== 0) zero = false;
    }
    if (zero) {
      t.removeAt(o);
      if (level === V6_HOST) this.hostGone(k0, k1);
      return DELETED;
    }
    return UPDATED;
  }

  private migrate(level: number, t: HotTable, o: number, c: number, k0: number, k1: number, k2: number, k3: number): void {
    const g = this.g;
    const cnt = t.count(o, c);
    const age = g.tags[c]! - t.tag(o, c);
    if (cnt !== 0 && age <= g.windows[c]!) {
      const r = addFrozen(g.bucket(c, age).v6Levels().t[level]!, level, k0, k1, k2, k3, cnt);
      g.budget.used[V6_TIER[level]!]! += sizeDelta(r);
    }
    t.setTag(o, c, g.tags[c]!);
    t.setCount(o, c, 0);
  }

  private subtract(c: number, age: number, w0: number, w1: number, w2: number, w3: number, cnt: number, from: number): void {
    const g = this.g;
    for (let level = from; level <= V6_32; level++) {
      const k1 = level === V6_48 ? w1 & HI16 : level === V6_32 ? 0 : w1;
      const k2 = level === V6_HOST ? w2 : 0;
      const k3 = level === V6_HOST ? w3 : 0;
      const t = this.t[level]!;
      const o = find(t, level, w0, k1, k2, k3);
      const tier = V6_TIER[level]!;
      if (o >= 0 && g.tags[c]! - t.tag(o, c) === age) {
        t.addCount(o, c, -cnt);
        if (t.isZero(o)) {
          t.removeAt(o);
          g.budget.used[tier]! -= 1;
          if (level === V6_HOST) this.hostGone(w0, w1);
        }
        continue;
      }
      g.budget.used[tier]! += sizeDelta(addFrozen(g.bucket(c, age).v6Levels().t[level]!, level, w0, k1, k2, k3, -cnt));
    }
    g.bucket(c, age).v6Levels().total -= cnt;
  }
}

function find(t: HotTable, level: number, k0: number, k1: number, k2: number, k3: number): number {
  if (level === V6_HOST) return t.find4(k0, k1, k2, k3);
  if (level === V6_32) return t.find1(k0);
  return t.find2(k0, k1);
}

function addFrozen(
  t: KeyTable,
  level: number,
  k0: number,
  k1: number,
  k2: number,
  k3: number,
  delta: number,
): AddOutcome {
  if (level === V6_HOST) return t.add4(k0, k1, k2, k3, delta, true);
  if (level === V6_32) return t.add1(k0, delta, true);
  return t.add2(k0, k1, delta, true);
}
