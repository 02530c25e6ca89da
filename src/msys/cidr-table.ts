/**
 * A longest-prefix-match table of IPv4 and IPv6 networks, built for
 * msys.cidr.query: one hash map per prefix length present, probed from the
 * longest length down. Real lists hold a handful of distinct lengths (/32,
 * /24, ...), so a query is a parse plus a few Map lookups whatever the size.
 */

export interface CidrValue {
  readonly a: string;
  readonly txt: string;
}

/** An rbldnsd `!` line: the network is carved out of the list. */
export const EXCLUDED: CidrValue = Object.freeze({ a: '', txt: '' });

/**
 * IPv4 networks are kept per prefix length as a sorted Uint32Array of
 * network addresses with a parallel array of values, searched by bisection:
 * no hashing of 32-bit numbers (which V8 boxes above 2^30), and 100,000
 * entries cost ~17 comparisons per length present. Built lazily after adds.
 */
class V4Level {
  keys: number[] = [];
  values: CidrValue[] = [];
  sorted: Uint32Array = new Uint32Array(0);
  sortedValues: CidrValue[] = [];
  dirty = false;

  add(key: number, value: CidrValue): void {
    this.keys.push(key);
    this.values.push(value);
    this.dirty = true;
  }

  /** Sorts once; for duplicate networks an exclusion wins, else the first entry (like rbldnsd). */
  build(): void {
    const order = this.keys.map((_, i) => i).sort((a, b) => this.keys[a]! - this.keys[b]! || a - b);
    const keys: number[] = [];
    const values: CidrValue[] = [];
    for (const i of order) {
      const k = this.keys[i]!;
      if (keys.length > 0 && keys[keys.length - 1] === k) {
        if (this.values[i] === EXCLUDED) values[values.length - 1] = EXCLUDED;
        continue;
      }
      keys.push(k);
      values.push(this.values[i]!);
    }
    this.sorted = Uint32Array.from(keys);
    this.sortedValues = values;
    this.dirty = false;
  }

  get(key: number): CidrValue | undefined {
    const a = this.sorted;
    let lo = 0;
    let hi = a.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = a[mid]!;
      if (v < key) lo = mid + 1;
      else if (v > key) hi = mid - 1;
      else return this.sortedValues[mid];
    }
    return undefined;
  }
}

export class CidrTable {
  private readonly v4 = new Map<number, V4Level>();
  private readonly v6 = new Map<number, Map<bigint, CidrValue>>();
  /** Levels longest prefix first, for the lookup loop. */
  private v4Levels: [number, V4Level][] = [];
  private v6Lengths: number[] = [];
  private dirty = false;
  /** Entries added (duplicates included). */
  size = 0;

  addV4(network: number, bits: number, value: CidrValue): void {
    let level = this.v4.get(bits);
    if (level === undefined) {
      level = new V4Level();
      this.v4.set(bits, level);
      this.v4Levels = [...this.v4.entries()].sort((a, b) => b[0] - a[0]);
    }
    level.add(bits === 0 ? 0 : (network & maskV4(bits)) >>> 0, value);
    this.dirty = true;
    this.size++;
  }

  addV6(network: bigint, bits: number, value: CidrValue): void {
    let m = this.v6.get(bits);
    if (m === undefined) {
      m = new Map();
      this.v6.set(bits, m);
      this.v6Lengths = [...this.v6.keys()].sort((a, b) => b - a);
    }
    const key = network & maskV6(bits);
    this.size++;
    if (!m.has(key) || value === EXCLUDED) m.set(key, value);
  }

  /** The most specific entry covering the address, or undefined (also for an exclusion). */
  lookupV4(ip: number): CidrValue | undefined {
    if (this.dirty) {
      for (const [, level] of this.v4Levels) if (level.dirty) level.build();
      this.dirty = false;
    }
    const levels = this.v4Levels;
    for (let i = 0; i < levels.length; i++) {
      const [bits, level] = levels[i]!;
      const v = level.get(bits === 0 ? 0 : (ip & maskV4(bits)) >>> 0);
      if (v !== undefined) return v === EXCLUDED ? undefined : v;
    }
    return undefined;
  }

  lookupV6(ip: bigint): CidrValue | undefined {
    for (const bits of this.v6Lengths) {
      const v = this.v6.get(bits)!.get(ip & maskV6(bits));
      if (v !== undefined) return v === EXCLUDED ? undefined : v;
    }
    return undefined;
  }
}

function maskV4(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

const V6_ALL = (1n << 128n) - 1n;
const v6Masks: bigint[] = Array.from({ length: 129 }, (_, b) => (b === 0 ? 0n : (V6_ALL >> BigInt(128 - b)) << BigInt(128 - b)));

function maskV6(bits: number): bigint {
  return v6Masks[bits]!;
}

/** "10.1.2.3" → 0x0a010203, or undefined. Hand-written: this is the hot path of every query. */
export function parseV4(s: string): number | undefined {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return undefined;
    } else if (c === 46) {
      if (digits === 0 || ++dots > 3) return undefined;
      value = value * 256 + part;
      part = 0;
      digits = 0;
    } else {
      return undefined;
    }
  }
  if (dots !== 3 || digits === 0) return undefined;
  return value * 256 + part;
}

/** An IPv6 address (with optional embedded IPv4 tail) as a 128-bit integer, or undefined. */
export function parseV6(s: string): bigint | undefined {
  if (!s.includes(':')) return undefined;
  let text = s;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    // An embedded IPv4 tail (::ffff:1.2.3.4) is two more groups.
    const v4 = parseV4(last);
    if (v4 === undefined) return undefined;
    text = `${text.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parse = (h: string) => (h === '' ? [] : h.split(':'));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const groups = [...head, ...rest].map((g) => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : NaN));
  if (groups.some(Number.isNaN)) return undefined;
  const total = groups.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return undefined;
  const zeros = 8 - total;
  const all = [...groups.slice(0, head.length), ...Array<number>(zeros).fill(0), ...groups.slice(head.length)];
  let v = 0n;
  for (const g of all) v = (v << 16n) | BigInt(g);
  return v;
}
