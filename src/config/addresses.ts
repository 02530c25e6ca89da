/**
 * Addresses and CIDR blocks in the config go through the same strict parser as
 * the console and Lua (src/audit/address.ts), never through a lenient one:
 * `010.0.0.1` is not 8.0.0.1, `127.1` and `3232235777` are not addresses,
 * `10.1.2.3/8` is refused with "did you mean 10.0.0.0/8?" rather than trusting
 * the whole /8, and `/08` is not a mask. A problem fails the config at the
 * entry's file:line.
 */
import { formatAddress, formatCidr, parseAddress, parseCidr, type IpAddress } from '../audit/address.ts';
import { isMoonwatchError } from '../errors.ts';
import type { ConfigNode } from './reader.ts';

/** A single address as written in `node`; fails the config if it is not one. */
export function configAddress(node: ConfigNode, text: string): IpAddress {
  try {
    return parseAddress(text);
  } catch (err) {
    return node.fail(problem(err));
  }
}

/**
 * An address or CIDR block (IPv6 may be bracketed: `[2001:db8::]/32`), in the
 * canonical form every consumer parses the same way: `192.0.2.1`, `10.0.0.0/8`,
 * `2001:db8::/32`. An IPv4-mapped block becomes the IPv4 block it is.
 */
export function configAddressOrCidr(node: ConfigNode, text: string): string {
  try {
    if (!text.includes('/')) return formatAddress(parseAddress(text));
    // "/24" alone means "the peer's block" to the console; a config has no peer.
    if (text.startsWith('/')) return node.fail(`"${text}" has no network address: write one such as "192.0.2.0${text}"`);
    return formatCidr(parseCidr(text));
  } catch (err) {
    return node.fail(problem(err));
  }
}

function problem(err: unknown): string {
  if (isMoonwatchError(err)) return err.message;
  throw err;
}
