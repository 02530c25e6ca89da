/**
 * Momentum's inbound_audit semantics that both policy languages need, written
 * once (DESIGN.md: msys/ and sieve/ both call this layer): mask forms and
 * defaults, monitor selection by position, cluster-scope fallback, Sieve's
 * string rendering of counts, and series identity across Lua and Sieve
 * (inbound-audit spec §5, §8.7, §9, §14). Pure functions over the store.
 */
import { cidrOf, hostCidr, hostLength, parseAddress, parseCidr, type Cidr, type IpAddress } from '../audit/address.ts';
import { BadMaskError, BadMonitorError, NoPeerError } from '../audit/errors.ts';
import { parseMonitor } from '../audit/monitor-spec.ts';
import type { Replicate, SeriesRegistry, SeriesType } from '../audit/series.ts';
import type { AuditStore, Scope } from '../audit/store.ts';

export type WarnOnce = (key: string, message: string) => void;

/** The key both languages warn under, so a mixed policy warns once in all. */
export const CLUSTER_SINGLE_NODE = 'cluster-single-node';

/**
 * The scope of a cluster-wide read, for Lua's `cluster = true` and Sieve's
 * `_cluster` commands alike. The store answers 'cluster' from this node's
 * figures until clustering feeds it (spec §14 #17: local figures, warned
 * once). This is the one place that decides the warning: when the store can
 * tell that it is clustered, only the unclustered case should warn.
 */
export function clusterScope(warnOnce: WarnOnce, what: string): Scope {
  warnOnce(CLUSTER_SINGLE_NODE, `${what} on a single node; answering with local figures`);
  return 'cluster';
}

function noPeer(): never {
  throw new NoPeerError('no connected peer here: give an address');
}

/**
 * A mask applied to the connecting IP: "24" or "/24" (spec §14 #36); omitted →
 * the family's host length (§14 #10: an explicit "32" on an IPv6 peer is an
 * IPv6 /32, as written).
 */
export function peerBlock(peer: IpAddress | undefined, mask?: string | number): Cidr {
  const p = peer ?? noPeer();
  if (mask === undefined || mask === '') return hostCidr(p);
  return cidrOf(p, maskLength(mask, p.family));
}

/**
 * An address argument of the gauge commands: omitted → the connecting IP;
 * "/m" or bare "m" → the connecting IP's block; "addr" or "addr/m" → that.
 */
export function addressBlock(peer: IpAddress | undefined, text: string | undefined): Cidr {
  if (text === undefined || text === '') return hostCidr(peer ?? noPeer());
  if (/^\/?\d{1,3}$/.test(text.trim())) return peerBlock(peer, text.trim());
  return parseCidr(text.trim(), peer);
}

/** A hash `ip` (address, default the peer) with its `mask`: the block containing the address. */
export function ipWithMask(peer: IpAddress | undefined, ip: string | undefined, mask?: string | number): Cidr {
  const addr = ip === undefined || ip === '' ? (peer ?? noPeer()) : parseAddress(ip.trim());
  return peerBlock(addr, mask);
}

export function maskLength(mask: string | number, family: 4 | 6): number {
  const text = String(mask).trim();
  const m = /^\/?(\d{1,3})$/.exec(text);
  const n = m === null ? NaN : Number(m[1]);
  if (!Number.isInteger(n) || n < 0 || n > hostLength(family)) {
    throw new BadMaskError(`mask ${JSON.stringify(text)} is not a valid IPv${family} mask (0 to ${hostLength(family)}, written "24" or "/24")`);
  }
  return n;
}

/** The monitor at a 0-based position of the configured list (Sieve positional form). */
export function monitorAt(store: AuditStore, index: string | number): string {
  const text = String(index).trim();
  const list = store.monitors();
  const i = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(i) || i >= list.length) {
    throw new BadMonitorError(`monitor index ${JSON.stringify(text)} is out of range: ${list.length} monitors are configured (${list.join(' ') || 'none'})`);
  }
  return list[i]!;
}

/** A monitor named by its "W,N" string, which must exist (spec §14 #5, Sieve: unknown → runtime error). */
export function knownMonitor(store: AuditStore, text: string): string {
  const canonical = parseMonitor(text).canonical;
  if (!store.monitors().includes(canonical)) {
    throw new BadMonitorError(`monitor "${canonical}" is not configured (configured: ${store.monitors().join(' ') || 'none'})`);
  }
  return canonical;
}

/**
 * A window bound given as a string or a number ("2", 2). Clamping to the
 * monitor and swapping reversed bounds happen in the store (window-range.ts).
 */
export function windowBound(v: string | number | undefined, fallback: number, what: string): number {
  if (v === undefined) return fallback;
  const n = typeof v === 'number' ? v : Number(v.trim() === '' ? NaN : v.trim());
  if (Number.isNaN(n)) throw new BadMonitorError(`${what} must be a window number, got ${JSON.stringify(String(v))}`);
  return n;
}

/**
 * A count as a Sieve string: whole, and never negative, because
 * i;ascii-numeric does not read a leading minus (spec §14 #7).
 */
export function sieveCount(n: number): string {
  return n > 0 ? String(Math.floor(n)) : '0';
}

/**
 * The registry name under which Sieve's (name, "W,N") series lives (spec
 * §8.7: identity is name, interval and windows). The plain name when it is
 * free or already has this shape and the address family; otherwise a
 * distinct series "name@W,N" (with "-v6" for IPv6), so a Lua series of
 * another shape is never reshaped or emptied by a Sieve script. Returns
 * undefined when the series does not exist and create is false.
 */
export function sieveSeries(
  reg: SeriesRegistry,
  name: string,
  interval: number,
  windows: number,
  family: 4 | 6,
  create: boolean,
  replicate?: Replicate,
): string | undefined {
  const type: SeriesType = family === 4 ? 'cidr' : 'cidr_ipv6';
  for (const candidate of [name, `${name}@${interval},${windows}${family === 6 ? '-v6' : ''}`]) {
    if (reg.has(candidate)) {
      const info = reg.info(candidate);
      if (info.type !== type || info.interval !== interval || info.windows !== windows) continue;
      if (replicate !== undefined && info.options.replicate !== replicate) {
        reg.define(candidate, type, interval, windows, { ...info.options, replicate });
      }
      return candidate;
    }
    if (!create) return undefined;
    reg.define(candidate, type, interval, windows, replicate === undefined ? {} : { replicate });
    return candidate;
  }
  return undefined;
}
