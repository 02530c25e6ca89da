import { formatAddress, type Cidr, type IpAddress } from './address.ts';
import { PrefixCounter } from './prefix-counter.ts';
import { unlimitedBudget } from './track-budget.ts';

interface Open {
  readonly addr: IpAddress;
  n: number;
}

/**
 * The other nodes' open inbound SMTP sessions (the `inbound_cidr` tree, spec
 * §12.2): one table per origin node, so a node that leaves (or stops
 * heartbeating) is taken out exactly, and their merged sum for reads. Open
 * sessions are bounded by the peers' connection limits, so no cap applies.
 */
export class RemoteGauges {
  private readonly nextSeed: () => number;
  private readonly budget = unlimitedBudget();
  private merged: PrefixCounter;
  private readonly origins = new Map<string, { tree: PrefixCounter; open: Map<string, Open> }>();

  constructor(nextSeed: () => number) {
    this.nextSeed = nextSeed;
    this.merged = new PrefixCounter(nextSeed());
  }

  apply(origin: string, addr: IpAddress, delta: number): void {
    if (delta === 0) return;
    let o = this.origins.get(origin);
    if (o === undefined) {
      o = { tree: new PrefixCounter(this.nextSeed()), open: new Map() };
      this.origins.set(origin, o);
    }
    const key = formatAddress(addr);
    const e = o.open.get(key);
    if (e === undefined) o.open.set(key, { addr, n: delta });
    else if ((e.n += delta) === 0) o.open.delete(key);
    o.tree.add(addr, delta, this.budget);
    this.merged.add(addr, delta, this.budget);
  }

  /** Takes every session of one origin out of the merged view. */
  drop(origin: string): number {
    const o = this.origins.get(origin);
    if (o === undefined) return 0;
    this.origins.delete(origin);
    let n = 0;
    for (const e of o.open.values()) {
      this.merged.add(e.addr, -e.n, this.budget);
      n += e.n;
    }
    return n;
  }

  /** Replaces an origin's table with absolute figures (rebuild). */
  replace(origin: string, entries: Iterable<[IpAddress, number]>): void {
    this.drop(origin);
    for (const [addr, n] of entries) this.apply(origin, addr, n);
  }

  count(cidr: Cidr): number {
    return this.merged.count(cidr);
  }

  countFrom(origin: string, cidr: Cidr): number {
    return this.origins.get(origin)?.tree.count(cidr) ?? 0;
  }

  /** Per-address open sessions of one origin, or of all (merged) when origin is undefined. */
  hosts(origin?: string): Array<[IpAddress, number]> {
    const out = new Map<string, [IpAddress, number]>();
    for (const [name, o] of this.origins) {
      if (origin !== undefined && name !== origin) continue;
      for (const [k, e] of o.open) {
        const prev = out.get(k);
        if (prev === undefined) out.set(k, [e.addr, e.n]);
        else prev[1] += e.n;
      }
    }
    return [...out.values()].filter(([, n]) => n !== 0);
  }

  originNames(): string[] {
    return [...this.origins.keys()];
  }

  /** Sessions open per origin. */
  totals(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [name, o] of this.origins) {
      let n = 0;
      for (const e of o.open.values()) n += e.n;
      out.set(name, n);
    }
    return out;
  }

  clear(): void {
    this.origins.clear();
    this.merged = new PrefixCounter(this.nextSeed());
  }
}
