import { hostLength, maskAddress, type Cidr, type IpAddress } from './address.ts';
import { BadAddressError, BadMaskError } from './errors.ts';

/**
 * Runtime checks for addresses and blocks handed to the store. Values from
 * parseAddress/parseCidr always pass; these catch hand-built objects from other
 * layers before they can corrupt a table.
 */
export function checkAddress(addr: unknown, what = 'address'): IpAddress {
  const a = addr as IpAddress | null;
  if (a === null || typeof a !== 'object' || (a.family !== 4 && a.family !== 6)) {
    throw new BadAddressError(`${what} must be an IP address (from parseAddress), got ${describe(addr)}`);
  }
  return a;
}

/** The block with its host bits cleared, so block sums always enumerate from the network address. */
export function checkCidr(cidr: unknown, what = 'cidr'): Cidr {
  const c = cidr as Cidr | null;
  if (c === null || typeof c !== 'object' || typeof c.prefix !== 'number') {
    throw new BadAddressError(`${what} must be a CIDR block (from parseCidr), got ${describe(cidr)}`);
  }
  const addr = checkAddress(c.addr, what);
  const max = hostLength(addr.family);
  if (!Number.isInteger(c.prefix) || c.prefix < 0 || c.prefix > max) {
    throw new BadMaskError(`${what}: /${c.prefix} is not a valid IPv${addr.family} mask (0 to ${max})`);
  }
  const net = maskAddress(addr, c.prefix);
  return net === addr ? c : { addr: net, prefix: c.prefix };
}

export function isCidr(v: unknown): v is Cidr {
  return v !== null && typeof v === 'object' && typeof (v as Cidr).prefix === 'number' && typeof (v as Cidr).addr === 'object';
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v)}`;
  return typeof v;
}
