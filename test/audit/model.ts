import { cidrOf, ipv4, ipv6, type Cidr, type IpAddress } from '../../src/audit/address.ts';

/**
 * A naive reference for the store's counting: events kept in a list, blocks
 * answered by checking every event. Tests compare the real tables against it.
 */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

export function toBig(a: IpAddress): bigint {
  if (a.family === 4) return BigInt(a.w0);
  return (BigInt(a.w0) << 96n) | (BigInt(a.w1) << 64n) | (BigInt(a.w2) << 32n) | BigInt(a.w3);
}

export function inBlock(a: IpAddress, c: Cidr): boolean {
  if (a.family !== c.addr.family) return false;
  const bits = a.family === 4 ? 32 : 128;
  const shift = BigInt(bits - c.prefix);
  return toBig(a) >> shift === toBig(c.addr) >> shift;
}

/**
 * Addresses clustered in a few networks, so blocks at every level hold several
 * hosts (uniform random addresses would leave every /24 with one).
 */
export function addressPool(next: () => number, family: 4 | 6, size: number): IpAddress[] {
  const nets = Array.from({ length: 4 }, () => [next(), next(), next(), next()] as const);
  const out: IpAddress[] = [];
  for (let i = 0; i < size; i++) {
    const n = nets[next() % nets.length]!;
    if (family === 4) {
      // Same /16, spread over a few /24s and /27s.
      out.push(ipv4(((n[0] & 0xffff0000) | ((next() % 4) << 8) | (next() % 96)) >>> 0));
    } else {
      // Same /32; a few /48s, /64s and hosts.
      const w1 = ((next() % 3) << 16) | (next() % 3);
      out.push(ipv6(n[0] === 0 ? 1 : n[0], w1, next() % 2 === 0 ? 0 : n[2], next() % 256));
    }
  }
  return out;
}

/** Blocks worth asking about: around each address, at the levels and between them. */
export function blocksAround(a: IpAddress, prefixes: readonly number[]): Cidr[] {
  return prefixes.map((p) => cidrOf(a, p));
}

export const V4_PREFIXES = Array.from({ length: 33 }, (_, i) => i);
export const V6_PREFIXES = [0, 1, 20, 24, 31, 32, 33, 40, 44, 47, 48, 49, 52, 56, 60, 63, 64, 65, 96, 119, 120, 124, 127, 128];

export interface ModelEvent {
  addr: IpAddress;
  delta: number;
  /** Epoch (window index) per column when the event was recorded. */
  epochs: number[];
}

/** Reference for a counter group: columns of (width, windows), clock never rotating backwards. */
export class GroupModel {
  private events: ModelEvent[] = [];
  private maxSec = Number.NEGATIVE_INFINITY;

  constructor(readonly shapes: ReadonlyArray<{ width: number; windows: number }>) {}

  private see(sec: number): number[] {
    this.maxSec = Math.max(this.maxSec, sec);
    return this.shapes.map((s) => Math.floor(this.maxSec / s.width));
  }

  add(addr: IpAddress, delta: number, sec: number): void {
    this.events.push({ addr, delta, epochs: this.see(sec) });
  }

  remove(addr: IpAddress, sec: number): boolean {
    this.see(sec);
    const before = this.events.length;
    this.events = this.events.filter((e) => toBig(e.addr) !== toBig(addr) || e.addr.family !== addr.family);
    return this.events.length !== before;
  }

  /** Sum for column c over windows s..e (ages), as of sec. */
  count(c: number, cidr: Cidr, s: number, e: number, sec: number): number {
    const cur = this.see(sec)[c]!;
    let sum = 0;
    for (const ev of this.events) {
      const age = cur - ev.epochs[c]!;
      if (age >= s && age <= e && inBlock(ev.addr, cidr)) sum += ev.delta;
    }
    return sum;
  }
}
