/**
 * Addresses in fixtures go through the store's own parser, so a fixture
 * accepts exactly what the store and the scripts accept. Block arithmetic
 * (the i-th address of a CIDR, for seeds and bulk traffic) works on the
 * store's own word representation, so no text is parsed per event.
 */
import { hostLength, ipv4, ipv6, parseAddress, parseCidr, type Cidr, type IpAddress } from '../audit/address.ts';
import { FixtureAddressError, type SourcePos } from './errors.ts';
import { errorMessage } from '../errors.ts';

export function checkAddress(text: string, pos: SourcePos, what: string): IpAddress {
  try {
    return parseAddress(text);
  } catch (err) {
    throw new FixtureAddressError(pos, `${what}: ${errorMessage(err)}`, { cause: err });
  }
}

/** An explicit address or CIDR ("192.0.2.1", "198.51.100.0/24"); relative "/24" needs a peer and is refused. */
export function checkCidr(text: string, pos: SourcePos, what: string): Cidr {
  if (text.trim().startsWith('/')) {
    throw new FixtureAddressError(pos, `${what}: "${text}" is relative to a connecting peer; write the block out (e.g. 192.0.2.0/24)`);
  }
  try {
    return parseCidr(text);
  } catch (err) {
    throw new FixtureAddressError(pos, `${what}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Number of addresses in the block. */
export function blockSize(cidr: Cidr): bigint {
  return 1n << BigInt(hostLength(cidr.addr.family) - cidr.prefix);
}

/**
 * The index-th usable address of a block, wrapping around. Blocks of four or
 * more addresses skip the network and broadcast-style ends, which a real sender
 * would not use.
 */
export function addressInBlock(cidr: Cidr, index: number): IpAddress {
  const a = cidr.addr;
  if (a.family === 4) {
    const size = 2 ** (32 - cidr.prefix);
    const usable = size >= 4 ? size - 2 : size;
    return ipv4(a.w0 + (size >= 4 ? 1 : 0) + (index % usable));
  }
  const size = blockSize(cidr);
  const usable = size >= 4n ? size - 2n : size;
  const offset = (size >= 4n ? 1n : 0n) + (BigInt(index) % usable);
  const v = ((BigInt(a.w0) << 96n) | (BigInt(a.w1) << 64n) | (BigInt(a.w2) << 32n) | BigInt(a.w3)) + offset;
  const word = (shift: bigint): number => Number((v >> shift) & 0xffffffffn);
  return ipv6(word(96n), word(64n), word(32n), word(0n));
}
