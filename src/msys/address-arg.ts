import { hostCidr, parseAddress, parseCidr, type Cidr, type IpAddress } from '../audit/address.ts';
import { lua, type LuaState } from '../lua/fengari.ts';
import { checkString, isNoneOrNil, typeName } from './args.ts';
import { LuaArgumentError, LuaContextError } from './errors.ts';
import type { MsysHost } from './host.ts';
import type { MsysTypes } from './types.ts';

/** The connecting peer, or the spec's "no connected peer" error (e.g. in init). */
export function currentPeer(host: MsysHost): IpAddress {
  if (host.session === null) {
    throw new LuaContextError('no connected peer (called outside a session, e.g. in init); pass an address');
  }
  return host.session.peer;
}

/**
 * A CIDR argument as Momentum accepts it: nil (the connecting IP), an accept
 * construct (its remote IP), "ip", "ip/m" or "/m" (the connecting IP's block).
 */
export function cidrArg(L: LuaState, idx: number, host: MsysHost, types: MsysTypes, name = 'cidr'): Cidr {
  if (isNoneOrNil(L, idx)) return hostCidr(currentPeer(host));
  const ac = types.ac.test(L, idx);
  if (ac) return hostCidr(ac.state.peer);
  if (lua.lua_type(L, idx) !== lua.LUA_TSTRING) {
    throw new LuaArgumentError(`argument ${idx} (${name}) must be a CIDR string or an accept construct, got ${typeName(L, idx)}`);
  }
  const text = checkString(L, idx, name);
  // Only relative forms need the peer; "10.0.0.0/8" works in init too.
  return parseCidr(text, text.startsWith('/') ? currentPeer(host) : host.session?.peer);
}

/** A single-address key (series add/remove_item): nil → peer, ac → its peer, "ip" → that address. */
export function addressArg(L: LuaState, idx: number, host: MsysHost, types: MsysTypes, name = 'key'): IpAddress {
  if (isNoneOrNil(L, idx)) return currentPeer(host);
  const ac = types.ac.test(L, idx);
  if (ac) return ac.state.peer;
  if (lua.lua_type(L, idx) !== lua.LUA_TSTRING) {
    throw new LuaArgumentError(`argument ${idx} (${name}) must be an IP address or an accept construct, got ${typeName(L, idx)}`);
  }
  return parseAddress(checkString(L, idx, name));
}
