import type { SeriesOptions, SeriesType } from '../audit/series.ts';
import { lua, type LuaState } from '../lua/fengari.ts';
import { checkNumber, checkString, isNoneOrNil, optBooleanField, optNumberField, optStringField, typeName } from './args.ts';
import { addressArg, cidrArg } from './address-arg.ts';
import { LuaArgumentError } from './errors.ts';
import type { MsysHost } from './host.ts';
import type { MsysTypes } from './types.ts';
import type { HostFn } from './userdata.ts';

const SERIES_TYPES: readonly SeriesType[] = ['cidr', 'cidr_ipv6', 'string'];
const MAX_NAME = 128;
const MAX_STRING_KEY = 1024;

/**
 * msys.audit_series (inbound-audit spec §8). Options are a table or, when not a
 * table, the key. IP series take addresses (or an accept construct); string
 * series require a string key.
 */
export function auditSeriesFunctions(host: MsysHost, types: () => MsysTypes): Record<string, HostFn> {
  const series = host.store.series;

  /** Leaves the key candidate at a fixed index and returns that index. */
  const keyIndex = (L: LuaState): number => {
    if (lua.lua_type(L, 2) !== lua.LUA_TTABLE) return 2;
    lua.lua_settop(L, 2);
    lua.lua_getfield(L, 2, 'key');
    return 3;
  };

  const stringKey = (L: LuaState, idx: number, name: string): string => {
    if (lua.lua_type(L, idx) !== lua.LUA_TSTRING) {
      throw new LuaArgumentError(`series '${name}' is a string series: key must be a string, got ${typeName(L, idx)}`);
    }
    return checkString(L, idx, 'key', MAX_STRING_KEY);
  };

  return {
    define: (L) => {
      const name = checkString(L, 1, 'name', MAX_NAME);
      const type = checkString(L, 2, 'type', 16) as SeriesType;
      if (!SERIES_TYPES.includes(type)) {
        throw new LuaArgumentError(`argument 2 (type) must be one of ${SERIES_TYPES.join(', ')}, got '${type}'`);
      }
      const interval = positiveInteger(checkNumber(L, 3, 'interval'), 'argument 3 (interval)');
      const windows = positiveInteger(checkNumber(L, 4, 'num_windows'), 'argument 4 (num_windows)');
      const options: SeriesOptions = {};
      if (!isNoneOrNil(L, 5)) {
        if (lua.lua_type(L, 5) !== lua.LUA_TTABLE) {
          throw new LuaArgumentError(`argument 5 (options) must be a table, got ${typeName(L, 5)}`);
        }
        const persist = optBooleanField(L, 5, 'persist');
        const serialize = optBooleanField(L, 5, 'serialize');
        const replicate = optStringField(L, 5, 'replicate', 16);
        if (persist !== undefined) options.persist = persist;
        if (serialize !== undefined) options.serialize = serialize;
        if (replicate !== undefined) {
          if (replicate !== 'none' && replicate !== 'cluster' && replicate !== 'manager') {
            throw new LuaArgumentError(`option 'replicate' must be 'none', 'cluster' or 'manager', got '${replicate}'`);
          }
          options.replicate = replicate;
        }
      }
      series.define(name, type, interval, windows, options);
      lua.lua_pushboolean(L, true);
      return 1;
    },
    add: (L) => {
      const name = checkString(L, 1, 'name', MAX_NAME);
      const type = series.typeOf(name);
      let count = 1;
      if (lua.lua_type(L, 2) === lua.LUA_TTABLE) count = optNumberField(L, 2, 'count', 'msys.audit_series.add') ?? 1;
      const k = keyIndex(L);
      if (type === 'string') series.add(name, stringKey(L, k, name), count);
      else series.add(name, addressArg(L, k, host, types()), count);
      return 0;
    },
    count: (L) => {
      const name = checkString(L, 1, 'name', MAX_NAME);
      const type = series.typeOf(name);
      let startv = 0;
      let endv = 0;
      if (lua.lua_type(L, 2) === lua.LUA_TTABLE) {
        startv = optNumberField(L, 2, 'startv', 'msys.audit_series.count') ?? 0;
        endv = optNumberField(L, 2, 'endv', 'msys.audit_series.count') ?? 0;
      }
      const k = keyIndex(L);
      const key = type === 'string' ? stringKey(L, k, name) : cidrArg(L, k, host, types(), 'key');
      const value = series.count(name, key, startv, endv);
      host.reads?.record('msys.audit_series.count', name, key, startv, endv, value);
      lua.lua_pushnumber(L, value);
      return 1;
    },
    remove_item: (L) => {
      const name = checkString(L, 1, 'name', MAX_NAME);
      const type = series.typeOf(name);
      const removed = type === 'string' ? series.removeItem(name, stringKey(L, 2, name)) : series.removeItem(name, addressArg(L, 2, host, types()));
      lua.lua_pushboolean(L, removed);
      return 1;
    },
  };
}

function positiveInteger(n: number, what: string): number {
  if (!Number.isInteger(n) || n <= 0) throw new LuaArgumentError(`${what} must be a positive integer, got ${n}`);
  return n;
}
