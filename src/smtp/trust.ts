/**
 * Which peers may use XCLIENT. Entries are CIDR blocks or single addresses;
 * an IPv4 peer seen through a dual-stack socket (::ffff:a.b.c.d) is matched as
 * the IPv4 address it is, so "127.0.0.0/8" trusts it either way.
 */
import ipaddr from 'ipaddr.js';

export type TrustMatcher = (address: string) => boolean;

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

export function createTrustMatcher(entries: readonly string[]): TrustMatcher {
  const ranges: Range[] = entries.map((e) => {
    if (e.includes('/')) {
      const [addr, bits] = ipaddr.parseCIDR(e);
      return [normalize(addr), addr.kind() === 'ipv6' && normalize(addr).kind() === 'ipv4' ? Math.max(0, bits - 96) : bits];
    }
    const addr = normalize(ipaddr.parse(e));
    return [addr, addr.kind() === 'ipv4' ? 32 : 128];
  });
  if (ranges.length === 0) return () => false;
  return (address: string) => {
    if (!ipaddr.isValid(address)) return false;
    const addr = normalize(ipaddr.parse(address));
    return ranges.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits));
  };
}

function normalize(addr: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  return addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() ? (addr as ipaddr.IPv6).toIPv4Address() : addr;
}
