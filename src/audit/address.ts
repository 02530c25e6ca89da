import { BadAddressError, BadMaskError, CidrHostBitsError, NoPeerError } from './errors.ts';

/**
 * IP addresses and CIDR blocks as the store keys them (inbound-audit spec §5).
 *
 * An address is four unsigned 32-bit words, most significant first, so the
 * per-event path hashes numbers and never touches strings. IPv4 lives in w0
 * (w1..w3 are 0). IPv4-mapped IPv6 is turned into IPv4 at parse time: there is
 * exactly one key per host whatever the socket reported.
 */
export interface IpAddress {
  readonly family: 4 | 6;
  readonly w0: number;
  readonly w1: number;
  readonly w2: number;
  readonly w3: number;
}

export interface Cidr {
  /** Network address: host bits are always clear. */
  readonly addr: IpAddress;
  readonly prefix: number;
}

class Addr implements IpAddress {
  constructor(
    readonly family: 4 | 6,
    readonly w0: number,
    readonly w1: number,
    readonly w2: number,
    readonly w3: number,
  ) {}
}

class Block implements Cidr {
  constructor(
    readonly addr: IpAddress,
    readonly prefix: number,
  ) {}
}

/** Longer inputs cannot be addresses; refusing them early keeps error messages short. */
const MAX_TEXT = 128;
const LOCALHOST: IpAddress = new Addr(4, 0x7f000001, 0, 0, 0);

/** An IPv4 address from its 32-bit value (benchmarks, fixtures): no parsing. */
export function ipv4(value: number): IpAddress {
  return new Addr(4, value >>> 0, 0, 0, 0);
}

/** An IPv6 address from four 32-bit words; IPv4-mapped words give the IPv4 address. */
export function ipv6(w0: number, w1: number, w2: number, w3: number): IpAddress {
  if (w0 === 0 && w1 === 0 && w2 >>> 0 === 0xffff) return ipv4(w3);
  return new Addr(6, w0 >>> 0, w1 >>> 0, w2 >>> 0, w3 >>> 0);
}

export function hostLength(family: 4 | 6): number {
  return family === 4 ? 32 : 128;
}

export function parseAddress(text: string): IpAddress {
  if (typeof text === 'string' && text.includes('/')) {
    throw new BadAddressError(`invalid IP address "${text}": a single address is expected here, not a CIDR block`);
  }
  const raw = parseRaw(text);
  return raw.family === 6 ? ipv6(raw.w0, raw.w1, raw.w2, raw.w3) : raw;
}

/**
 * "a" → that host; "a/m" → that block (host bits set is an error naming the
 * network); "/m" → the peer's block of length m. An explicit /32 on an IPv6
 * peer is an IPv6 /32, as written.
 */
export function parseCidr(text: string, peer?: IpAddress): Cidr {
  checkText(text);
  if (text.startsWith('/')) {
    const mask = parseMask(text.slice(1), text);
    if (peer === undefined) {
      throw new NoPeerError(`"${text}" means the connecting IP's block, but there is no connected peer here; write a network such as "192.0.2.0${text}"`);
    }
    checkMaskFits(mask, peer.family, text);
    return new Block(maskAddress(peer, mask), mask);
  }
  const slash = text.lastIndexOf('/');
  if (slash < 0) {
    if (/^\d{1,3}$/.test(text)) {
      throw new BadAddressError(`invalid IP address "${text}": to mean the connecting IP's /${text} block write "/${text}"`);
    }
    return hostCidr(parseAddress(text));
  }
  const raw = parseRaw(text.slice(0, slash), text);
  let mask = parseMask(text.slice(slash + 1), text);
  checkMaskFits(mask, raw.family, text);
  let addr: IpAddress = raw;
  if (raw.family === 6 && raw.w0 === 0 && raw.w1 === 0 && raw.w2 === 0xffff && mask >= 96) {
    addr = ipv4(raw.w3);
    mask -= 96;
  }
  const net = maskAddress(addr, mask);
  if (!sameAddress(net, addr)) throw new CidrHostBitsError(text, `${formatAddress(net)}/${mask}`);
  return new Block(addr.family === 6 ? ipv6(addr.w0, addr.w1, addr.w2, addr.w3) : addr, mask);
}

export function hostCidr(addr: IpAddress): Cidr {
  return new Block(addr, hostLength(addr.family));
}

/** The block of length `prefix` containing `addr`. */
export function cidrOf(addr: IpAddress, prefix: number): Cidr {
  checkMaskFits(prefix, addr.family, `/${prefix}`);
  return new Block(maskAddress(addr, prefix), prefix);
}

export function cidrContains(c: Cidr, addr: IpAddress): boolean {
  return c.addr.family === addr.family && sameAddress(maskAddress(addr, c.prefix), c.addr);
}

export function sameAddress(a: IpAddress, b: IpAddress): boolean {
  return a.family === b.family && a.w0 === b.w0 && a.w1 === b.w1 && a.w2 === b.w2 && a.w3 === b.w3;
}

/** Mask of the `bits` leading bits of one 32-bit word, as an unsigned value. */
export function wordMask(bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

export function maskAddress(addr: IpAddress, prefix: number): IpAddress {
  if (addr.family === 4) {
    const w0 = (addr.w0 & wordMask(prefix)) >>> 0;
    return w0 === addr.w0 ? addr : new Addr(4, w0, 0, 0, 0);
  }
  const w0 = (addr.w0 & wordMask(prefix)) >>> 0;
  const w1 = (addr.w1 & wordMask(prefix - 32)) >>> 0;
  const w2 = (addr.w2 & wordMask(prefix - 64)) >>> 0;
  const w3 = (addr.w3 & wordMask(prefix - 96)) >>> 0;
  if (w0 === addr.w0 && w1 === addr.w1 && w2 === addr.w2 && w3 === addr.w3) return addr;
  return new Addr(6, w0, w1, w2, w3);
}

export function formatAddress(addr: IpAddress): string {
  if (addr.family === 4) {
    const v = addr.w0;
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const groups = [addr.w0, addr.w1, addr.w2, addr.w3].flatMap((w) => [w >>> 16, w & 0xffff]);
  // RFC 5952: compress the longest run of two or more zero groups, the first on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]) => g.map((n) => n.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

export function formatCidr(c: Cidr): string {
  return `${formatAddress(c.addr)}/${c.prefix}`;
}

function checkText(text: unknown): asserts text is string {
  if (typeof text !== 'string') throw new BadAddressError(`an IP address must be a string, got ${typeof text}`);
  if (text.length === 0) throw new BadAddressError('empty IP address');
  if (text.length > MAX_TEXT) throw new BadAddressError(`invalid IP address "${text.slice(0, 40)}…": too long`);
}

function bad(text: string, why: string): BadAddressError {
  return new BadAddressError(`invalid IP address "${text}": ${why}`);
}

function parseMask(s: string, text: string): number {
  // Most masks scripts pass ("/24", "/32") are read without a regex; the rest get the reasons below.
  const bits = smallDecimal(s, 0, s.length);
  if (bits >= 0) return bits;
  if (!/^\d{1,3}$/.test(s)) {
    throw new BadMaskError(`invalid mask in "${text}": a mask is a number of bits, /0 to /32 for IPv4 or /0 to /128 for IPv6`);
  }
  // "/08" is refused like "010.0.0.1": a leading zero reads as octal to some tools.
  if (s.length > 1 && s.startsWith('0')) throw new BadMaskError(`invalid mask in "${text}": leading zeros are not allowed in a mask`);
  return Number(s);
}

function checkMaskFits(mask: number, family: 4 | 6, text: string): void {
  const max = hostLength(family);
  if (!Number.isInteger(mask) || mask < 0 || mask > max) {
    throw new BadMaskError(`invalid mask in "${text}": /${mask} is longer than an IPv${family} address (maximum /${max})`);
  }
}

/** Parses without folding IPv4-mapped IPv6, so a CIDR can convert its mask too. */
function parseRaw(body: string, whole: string = body): IpAddress {
  checkText(body);
  // Every session's peer is parsed: a plain dotted quad skips the general path's regexes, split and lower-casing.
  const quad = dottedQuad(body);
  if (quad >= 0) return new Addr(4, quad, 0, 0, 0);
  let s = body;
  if (s.startsWith('[')) {
    if (!s.endsWith(']')) throw bad(whole, 'unbalanced "["');
    s = s.slice(1, -1);
    if (!s.includes(':')) throw bad(whole, 'brackets are only used around IPv6 addresses');
  }
  if (s.toLowerCase() === 'localhost') return LOCALHOST;
  if (s.includes(':')) return parseV6(s, whole);
  return new Addr(4, parseV4(s, whole), 0, 0, 0);
}

/**
 * The value of a canonical dotted quad (four parts of 0–255, no leading
 * zeros), or -1 for anything else, which parseV4 then accepts or refuses with
 * its reason.
 */
function dottedQuad(s: string): number {
  let value = 0;
  let start = 0;
  for (let part = 0; part < 4; part++) {
    const end = part < 3 ? s.indexOf('.', start) : s.length;
    if (end < 0) return -1;
    const v = smallDecimal(s, start, end);
    if (v < 0 || v > 255) return -1;
    value = value * 256 + v;
    start = end + 1;
  }
  return value >>> 0;
}

/** The value of s[start, end) if it is one to three digits without a leading zero, else -1. */
function smallDecimal(s: string, start: number, end: number): number {
  const n = end - start;
  if (n < 1 || n > 3 || (n > 1 && s.charCodeAt(start) === 0x30)) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

function parseV4(s: string, whole: string): number {
  if (/^\d+$/.test(s)) throw bad(whole, 'write IPv4 addresses as four dotted decimal parts (a.b.c.d), not as one number');
  const parts = s.split('.');
  if (/[^0-9.]/.test(s)) {
    if (parts.some((p) => /^0x/i.test(p))) throw bad(whole, 'hexadecimal parts are not accepted; use dotted decimal');
    if (/^[a-z0-9.-]+$/i.test(s)) throw bad(whole, 'host names are not resolved (only "localhost" is accepted)');
    throw bad(whole, 'not an IPv4 or IPv6 address');
  }
  if (parts.length !== 4) throw bad(whole, 'IPv4 addresses need exactly four dotted parts (short forms like 127.1 are not accepted)');
  let value = 0;
  for (const p of parts) {
    if (p.length === 0) throw bad(whole, 'empty part between dots');
    if (p.length > 1 && p.startsWith('0')) throw bad(whole, `leading zeros are not accepted ("${p}" could be read as octal)`);
    const n = p.length > 3 ? 256 : Number(p);
    if (n > 255) throw bad(whole, `"${p}" is out of range: each part is 0 to 255`);
    value = value * 256 + n;
  }
  return value >>> 0;
}

function parseV6(input: string, whole: string): IpAddress {
  let s = input;
  const pct = s.indexOf('%');
  if (pct >= 0) {
    // A zone id names the local interface a link-local peer came in on; the
    // address is the same host whatever the interface, so it is dropped.
    if (!/^[0-9A-Za-z_.-]{1,64}$/.test(s.slice(pct + 1))) throw bad(whole, 'invalid zone id after "%"');
    s = s.slice(0, pct);
  }
  if (!/^[0-9A-Fa-f:.]+$/.test(s)) throw bad(whole, 'IPv6 addresses contain only hex digits, ":" and an optional dotted IPv4 tail');
  const dbl = s.indexOf('::');
  if (dbl >= 0 && s.indexOf('::', dbl + 1) >= 0) throw bad(whole, '"::" may appear only once');
  const split = (t: string): string[] => (t === '' ? [] : t.split(':'));
  const head = dbl >= 0 ? split(s.slice(0, dbl)) : split(s);
  const tail = dbl >= 0 ? split(s.slice(dbl + 2)) : [];
  const last = tail.length > 0 ? tail : head;
  const toGroups = (parts: string[]): number[] => {
    const out: number[] = [];
    parts.forEach((p, i) => {
      if (p.includes('.')) {
        if (parts !== last || i !== parts.length - 1) throw bad(whole, 'a dotted IPv4 part may only end the address');
        const v = parseV4(p, whole);
        out.push(v >>> 16, v & 0xffff);
      } else if (p.length === 0) {
        throw bad(whole, 'empty group (use "::" once to compress zeros)');
      } else if (p.length > 4) {
        throw bad(whole, `group "${p}" has more than four hex digits`);
      } else {
        out.push(parseInt(p, 16));
      }
    });
    return out;
  };
  const hg = toGroups(head);
  const tg = toGroups(tail);
  const total = hg.length + tg.length;
  if (dbl < 0 && total !== 8) throw bad(whole, `an IPv6 address has eight groups, found ${total}`);
  if (dbl >= 0 && total > 7) throw bad(whole, '"::" must stand for at least one zero group');
  const g = [...hg, ...new Array<number>(8 - total).fill(0), ...tg];
  const w = (i: number) => ((g[2 * i]! << 16) | g[2 * i + 1]!) >>> 0;
  return new Addr(6, w(0), w(1), w(2), w(3));
}
