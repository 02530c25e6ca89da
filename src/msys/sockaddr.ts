import { lua, type LuaState } from '../lua/fengari.ts';
import { checkStringish } from './args.ts';
import { defineUserdataType, type UserdataType } from './userdata.ts';

/** A socket address as scripts see it (ac.remote_addr, msg.recv_from). */
export interface SockAddr {
  readonly family: 4 | 6;
  readonly ip: string;
  readonly port: number;
}

/**
 * Spec §7: IPv4 prints "a.b.c.d:port"; IPv6 prints "<ipv6>.<port>", because the
 * training policy's library splits at the first "." to strip the port.
 */
export function formatSockAddr(sa: SockAddr): string {
  return sa.family === 4 ? `${sa.ip}:${sa.port}` : `${sa.ip}.${sa.port}`;
}

/** An ec_string: the mutable text buffer Momentum passes for EHLO/MAIL/RCPT arguments. */
export interface EcString {
  text: string;
}

export interface UserdataTypes {
  readonly sockaddr: UserdataType<SockAddr>;
  readonly ecString: UserdataType<EcString>;
}

export function defineValueTypes(L: LuaState): UserdataTypes {
  const sockaddr = defineUserdataType<SockAddr>(L, {
    name: 'msys.sockaddr',
    label: 'sockaddr',
    tostring: (Ls) => {
      lua.lua_pushliteral(Ls, formatSockAddr(sockaddr.check(Ls, 1)));
      return 1;
    },
  });
  const ecString: UserdataType<EcString> = defineUserdataType<EcString>(L, {
    name: 'msys.ec_string',
    label: 'ec_string',
    methods: {
      set: (Ls) => {
        ecString.check(Ls, 1).text = checkStringish(Ls, 2, 'text', 65536);
        return 0;
      },
      write: (Ls) => {
        const s = ecString.check(Ls, 1);
        const text = checkStringish(Ls, 2, 'text', 65536);
        const len = lua.lua_type(Ls, 3) === lua.LUA_TNUMBER ? Math.max(0, Math.trunc(lua.lua_tonumber(Ls, 3) as number)) : text.length;
        s.text = text.slice(0, len);
        return 0;
      },
    },
    tostring: (Ls) => {
      lua.lua_pushliteral(Ls, ecString.check(Ls, 1).text);
      return 1;
    },
    len: (Ls) => {
      lua.lua_pushnumber(Ls, Buffer.byteLength(ecString.check(Ls, 1).text));
      return 1;
    },
    // "rcpt: " .. str is common in logging code; make it work like a string.
    concat: (Ls) => {
      lua.lua_pushliteral(Ls, concatPart(Ls, 1) + concatPart(Ls, 2));
      return 1;
    },
  });

  function concatPart(Ls: LuaState, idx: number): string {
    const s = ecString.test(Ls, idx);
    if (s) return s.text;
    const t = lua.lua_type(Ls, idx);
    if (t === lua.LUA_TSTRING || t === lua.LUA_TNUMBER) return lua.lua_tojsstring(Ls, idx) as string;
    throw new Error(`attempt to concatenate a ${t === lua.LUA_TNIL ? 'nil' : 'non-string'} value`);
  }

  return { sockaddr, ecString };
}
