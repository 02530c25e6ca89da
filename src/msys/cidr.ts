import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Clock } from '../clock.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { lua, type LuaState } from '../lua/fengari.ts';
import { checkString, isNoneOrNil, optBooleanField, optNumberField, optStringField, typeName, withField } from './args.ts';
import { CidrTable, parseV4, parseV6, type CidrValue } from './cidr-table.ts';
import { LuaArgumentError, LuaContextError } from './errors.ts';
import type { MsysHost } from './host.ts';
import { parseRbldnsd } from './rbldnsd.ts';
import type { MsysTypes } from './types.ts';
import type { HostFn } from './userdata.ts';

/** A Lua scalar kept on the JS side (default_value is a string, false or nil in practice). */
type Scalar = string | number | boolean | undefined;

interface CidrDef {
  readonly name: string;
  readonly type: 'empty' | 'rbldnsd' | 'datasource';
  readonly interpolate: boolean;
  readonly defaultValue: Scalar;
  readonly refreshMs: number;
  readonly value: 'a' | 'txt';
  readonly file?: string;
  readonly cidrColumn?: string | number;
  readonly valueColumn?: string | number;
  table: CidrTable;
  loadedMtime: number;
  checkedAt: number;
}

export interface CidrDeps {
  readonly host: MsysHost;
  readonly types: () => MsysTypes;
  /** Relative rbldnsd/datasource sources resolve against the scripts directory. */
  readonly baseDir: string;
  readonly logger: Logger;
}

/** msys.cidr (spec lua-policy-api §10): define, query, reload. One registry per generation. */
export function cidrFunctions(deps: CidrDeps): Record<string, HostFn> {
  const defs = new Map<string, CidrDef>();
  const clock: Clock = deps.host.clock;

  const load = (def: CidrDef): void => {
    const file = def.file!;
    const st = statSync(file);
    const text = readFileSync(file, 'latin1');
    if (def.type === 'rbldnsd') {
      const parsed = parseRbldnsd(text);
      for (const p of parsed.problems.slice(0, 5)) deps.logger.warn({ cidr: def.name, file, line: p.line }, `msys.cidr: ${p.message}`);
      def.table = parsed.table;
    } else {
      def.table = parseDatasourceFile(text, def);
    }
    def.loadedMtime = st.mtimeMs;
    def.checkedAt = clock.now();
  };

  // Periodic refresh (option `refresh`, seconds): checked lazily on query; re-read only if the file changed.
  const maybeRefresh = (def: CidrDef): void => {
    if (def.file === undefined || def.refreshMs <= 0 || clock.now() - def.checkedAt < def.refreshMs) return;
    def.checkedAt = clock.now();
    try {
      if (statSync(def.file).mtimeMs !== def.loadedMtime) load(def);
    } catch (err) {
      deps.logger.warn({ cidr: def.name, file: def.file, err: errorMessage(err) }, 'msys.cidr: refresh failed; keeping the loaded list');
    }
  };

  return {
    define: (L) => {
      const name = checkString(L, 1, 'name', 256);
      const def = readDefinition(L, name, deps.baseDir);
      if (def.file !== undefined) {
        try {
          load(def);
        } catch (err) {
          throw new LuaArgumentError(`cannot load ${def.type} source '${def.file}' for '${name}': ${errorMessage(err)}`);
        }
      }
      defs.set(name, def);
      lua.lua_pushboolean(L, true);
      return 1;
    },
    query: (L) => {
      const name = checkString(L, 1, 'name', 256);
      const def = defs.get(name);
      if (def === undefined) throw new LuaArgumentError(`no CIDR list named '${name}' (define it with msys.cidr.define first)`);
      let ip: string;
      if (isNoneOrNil(L, 2)) {
        const session = deps.host.session;
        if (session === null) throw new LuaContextError('without an address, query needs a connected peer (it is called outside a session)');
        ip = session.peerText;
      } else {
        const sa = deps.types().sockaddr.test(L, 2);
        ip = sa !== undefined ? sa.ip : checkString(L, 2, 'address', 64);
      }
      maybeRefresh(def);
      let hit: CidrValue | undefined;
      const v4 = parseV4(ip);
      if (v4 !== undefined) hit = def.table.lookupV4(v4);
      else {
        const v6 = parseV6(ip);
        if (v6 === undefined) throw new LuaArgumentError(`argument 2 (address) is not an IP address: '${ip}'`);
        const mapped = v6 >> 32n === 0xffffn ? Number(v6 & 0xffffffffn) : undefined;
        hit = mapped !== undefined ? def.table.lookupV4(mapped) : def.table.lookupV6(v6);
      }
      if (hit === undefined) {
        pushScalar(L, def.defaultValue);
        return 1;
      }
      const text = def.value === 'a' ? hit.a : hit.txt;
      lua.lua_pushliteral(L, def.interpolate && text.includes('$') ? text.split('$').join(ip) : text);
      return 1;
    },
    reload: (L) => {
      const name = checkString(L, 1, 'name', 256);
      const def = defs.get(name);
      if (def === undefined) throw new LuaArgumentError(`no CIDR list named '${name}' (define it with msys.cidr.define first)`);
      if (def.file === undefined) {
        lua.lua_pushboolean(L, true);
        return 1;
      }
      try {
        load(def);
      } catch (err) {
        // Keep serving the list loaded before; tell the script why.
        lua.lua_pushnil(L);
        lua.lua_pushliteral(L, errorMessage(err));
        return 2;
      }
      lua.lua_pushboolean(L, true);
      return 1;
    },
  };
}

function pushScalar(L: LuaState, v: Scalar): void {
  if (v === undefined) lua.lua_pushnil(L);
  else if (typeof v === 'string') lua.lua_pushliteral(L, v);
  else if (typeof v === 'number') lua.lua_pushnumber(L, v);
  else lua.lua_pushboolean(L, v);
}

const TYPES = ['empty', 'rbldnsd', 'datasource'] as const;

function readDefinition(L: LuaState, name: string, baseDir: string): CidrDef {
  const base = { name, table: new CidrTable(), loadedMtime: 0, checkedAt: 0 };
  if (lua.lua_type(L, 2) !== lua.LUA_TTABLE) {
    // Not a table: taken as the type; only "empty" works without options (spec §10).
    const t = lua.lua_type(L, 2) === lua.LUA_TSTRING ? (lua.lua_tojsstring(L, 2) as string) : typeName(L, 2);
    if (t !== 'empty') throw new LuaArgumentError(`argument 2 (options) must be a table (only "empty" may be given alone), got ${t}`);
    return { ...base, type: 'empty', interpolate: false, defaultValue: undefined, refreshMs: 0, value: 'a' };
  }
  const type = optStringField(L, 2, 'type', 32);
  if (type === undefined || !(TYPES as readonly string[]).includes(type)) {
    throw new LuaArgumentError(`option 'type' must be one of ${TYPES.join(', ')}, got ${type === undefined ? 'nil' : `'${type}'`}`);
  }
  const defaultValue = withField(L, 2, 'default_value', (top): Scalar => {
    const t = lua.lua_type(L, top);
    if (t === lua.LUA_TSTRING) return lua.lua_tojsstring(L, top) as string;
    if (t === lua.LUA_TNUMBER) return lua.lua_tonumber(L, top) as number;
    if (t === lua.LUA_TBOOLEAN) return lua.lua_toboolean(L, top) as boolean;
    throw new LuaArgumentError(`option 'default_value' must be a string, number or boolean, got ${typeName(L, top)}`);
  });
  // The samples use Default-Policy names: record_type for value, optimize_hosts for optimize.
  const valueText = (optStringField(L, 2, 'value', 8) ?? optStringField(L, 2, 'record_type', 8) ?? 'a').toLowerCase();
  if (valueText !== 'a' && valueText !== 'txt') throw new LuaArgumentError(`option 'value' must be "a" or "txt", got '${valueText}'`);
  optBooleanField(L, 2, 'optimize');
  optBooleanField(L, 2, 'optimize_hosts');
  const refresh = optNumberField(L, 2, 'refresh', 'msys.cidr.define') ?? 1800;
  if (refresh < 0) throw new LuaArgumentError(`option 'refresh' must be 0 or more seconds, got ${refresh}`);
  const def = {
    ...base,
    type: type as CidrDef['type'],
    interpolate: optBooleanField(L, 2, 'interpolate') ?? false,
    defaultValue,
    refreshMs: refresh * 1000,
    value: valueText as 'a' | 'txt',
  };
  if (type === 'empty') return def;
  const source = optStringField(L, 2, 'source', 1024);
  if (source === undefined) {
    throw new LuaArgumentError(
      type === 'rbldnsd'
        ? `type 'rbldnsd' needs option 'source' (the rbldnsd file)`
        : `type 'datasource' needs option 'source' (a CSV file) in moonwatch: Momentum's datasource caches (cachename/query) are not provided`,
    );
  }
  const column = (key: string) =>
    withField(L, 2, key, (top) => (lua.lua_type(L, top) === lua.LUA_TNUMBER ? (lua.lua_tonumber(L, top) as number) : (lua.lua_tojsstring(L, top) as string)));
  return {
    ...def,
    file: resolveSource(source, baseDir),
    ...(type === 'datasource' ? { cidrColumn: column('cidr_column') ?? 1, valueColumn: column('value_column') } : {}),
  } as CidrDef;
}

/** file:///abs, /abs, or a path relative to the scripts directory; other I/O-wrapper schemes are not provided. */
function resolveSource(source: string, baseDir: string): string {
  if (source.startsWith('file://')) return fileURLToPath(source);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) {
    throw new LuaArgumentError(`source '${source}': only file sources are supported (Momentum's other I/O-wrapper schemes are not provided)`);
  }
  return isAbsolute(source) ? source : join(baseDir, source);
}

/**
 * type "datasource" with a CSV source: the first line names the columns;
 * cidr_column / value_column pick them by name or 1-based position. Without
 * value_column a match returns "true" (Momentum's "matching returns true").
 */
function parseDatasourceFile(text: string, def: CidrDef): CidrTable {
  const rows = text.split(/\r?\n/).filter((l) => l.trim() !== '' && !l.startsWith('#'));
  const header = (rows.shift() ?? '').split(',').map((s) => s.trim());
  const index = (col: string | number | undefined): number | undefined => {
    if (col === undefined) return undefined;
    if (typeof col === 'number') return col - 1;
    const i = header.indexOf(col);
    if (i < 0) throw new Error(`no column '${col}' in the header (${header.join(', ')})`);
    return i;
  };
  const ci = index(def.cidrColumn)!;
  const vi = index(def.valueColumn);
  const table = new CidrTable();
  for (const row of rows) {
    const cells = row.split(',').map((s) => s.trim());
    const [ip, len] = (cells[ci] ?? '').split('/');
    const value = vi === undefined ? 'true' : (cells[vi] ?? '');
    const v: CidrValue = { a: value, txt: value };
    const v4 = parseV4(ip ?? '');
    if (v4 !== undefined) table.addV4(v4, len === undefined ? 32 : Number(len), v);
    else {
      const v6 = parseV6(ip ?? '');
      if (v6 !== undefined) table.addV6(v6, len === undefined ? 128 : Number(len), v);
    }
  }
  return table;
}
