import type { Cidr, IpAddress } from './address.ts';
import { V4Levels } from './levels-v4.ts';
import { V6Levels } from './levels-v6.ts';
import type { TrackBudget } from './track-budget.ts';

/**
 * Address → count with block sums for any CIDR: a session gauge, or one
 * window bucket of a counter group. Each family's levels are created on first
 * use, so an IPv4-only store never pays for IPv6 tables and vice versa.
 */
export class PrefixCounter {
  v4: V4Levels | null = null;
  v6: V6Levels | null = null;
  private readonly seed: number;

  constructor(seed: number) {
    this.seed = seed;
  }

  v4Levels(): V4Levels {
    return (this.v4 ??= new V4Levels(this.seed));
  }

  v6Levels(): V6Levels {
    return (this.v6 ??= new V6Levels(this.seed ^ 0x6666));
  }

  /** Adds to every level (delta a non-zero integer). */
  add(addr: IpAddress, delta: number, budget: TrackBudget): void {
    if (addr.family === 4) this.v4Levels().add(addr.w0, delta, budget);
    else this.v6Levels().add(addr.w0, addr.w1, addr.w2, addr.w3, delta, budget);
  }

  count(c: Cidr): number {
    const a = c.addr;
    if (a.family === 4) return this.v4 === null ? 0 : this.v4.count(a.w0, c.prefix);
    return this.v6 === null ? 0 : this.v6.count(a.w0, a.w1, a.w2, a.w3, c.prefix);
  }

  release(budget: TrackBudget): void {
    this.v4?.release(budget);
    this.v6?.release(budget);
  }

  /** Host entries held (both families). */
  get entries(): number {
    return (this.v4?.host.size ?? 0) + (this.v6?.host.size ?? 0);
  }

  /** Nothing counted at any level: the bucket can be dropped. */
  get empty(): boolean {
    return (this.v4 === null || this.v4.empty) && (this.v6 === null || this.v6.empty);
  }

  compact(): void {
    this.v4?.compact();
    this.v6?.compact();
  }
}
