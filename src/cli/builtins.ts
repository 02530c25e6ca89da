/**
 * Which `msys.*` names the host provides, and which ones a script mentions
 * that it does not: `moonwatch check` reports those before a session reaches
 * the line and faults ("attempt to call a nil value (field 'dnsLookup')").
 */
import { captureLogger } from '../log.ts';
import { lua, to_jsstring, type LuaState } from '../lua/fengari.ts';
import { LuaVm } from '../lua/vm.ts';
import { tokenizeLua } from '../lua/lexer.ts';
import { AuditStore } from '../audit/store.ts';
import { ManualClock } from '../clock.ts';
import { compatServicesOrDefault } from '../msys/compat-services.ts';
import { installHostLibraries } from '../msys/install-compat.ts';
import { DEFAULT_BUDGET } from '../lua/budget.ts';

/**
 * Every dotted name under the msys global ("msys", "msys.audit",
 * "msys.audit.connections", …) as a script generation installs it, the
 * compatibility packages included; `compatConnectionAlias` is the config's
 * scripts.compat_connection_alias (it adds msys.audit.connection).
 */
export function msysBuiltinNames(opts: { compatConnectionAlias?: boolean } = {}): Set<string> {
  const { logger } = captureLogger('silent');
  const clock = new ManualClock(0);
  const vm = new LuaVm({ sources: () => undefined, logger, budget: DEFAULT_BUDGET, clock });
  try {
    const host = {
      store: new AuditStore({ clock, logger, monitors: [] }),
      clock,
      logger,
      session: null,
      register: () => undefined,
      warnOnce: () => undefined,
      compatConnectionAlias: opts.compatConnectionAlias ?? false,
    };
    installHostLibraries(vm, host, { services: compatServicesOrDefault(undefined, clock), baseDir: '.', logger });
    const names = new Set<string>(['msys']);
    const L = vm.L;
    lua.lua_getglobal(L, 'msys');
    walk(L, 'msys', names, 0);
    lua.lua_pop(L, 1);
    return names;
  } finally {
    vm.close();
  }
}

function walk(L: LuaState, prefix: string, out: Set<string>, depth: number): void {
  if (depth > 4) return;
  lua.lua_pushnil(L);
  while (lua.lua_next(L, -2) !== 0) {
    if (lua.lua_type(L, -2) === lua.LUA_TSTRING) {
      const key = to_jsstring(lua.lua_tostring(L, -2)!);
      const name = `${prefix}.${key}`;
      out.add(name);
      if (lua.lua_type(L, -1) === lua.LUA_TTABLE) walk(L, name, out, depth + 1);
    }
    lua.lua_pop(L, 1);
  }
}

export interface MissingBuiltin {
  readonly name: string;
  readonly line: number;
}

/**
 * `msys.a.b` references in Lua source (comments and string literals left out)
 * that name nothing the host provides. Only the longest dotted name counts, so
 * `msys.audit.connections(...)` is one reference; a name under a table a
 * script may fill itself (msys.extended.*) is not reported.
 */
export function missingBuiltins(source: string, known: ReadonlySet<string>): MissingBuiltin[] {
  const code = stripCommentsAndStrings(source);
  const out: MissingBuiltin[] = [];
  const seen = new Set<string>();
  const re = /\bmsys(?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)+/g;
  for (let m = re.exec(code); m !== null; m = re.exec(code)) {
    const name = m[0].replace(/\s+/g, '');
    // A method call (msys.core:foo) or an assignment target is the script's own business.
    const after = code.slice(m.index + m[0].length).trimStart();
    if (after.startsWith('=') && !after.startsWith('==')) continue;
    if (known.has(name) || name.startsWith('msys.extended.') || seen.has(name)) continue;
    seen.add(name);
    out.push({ name, line: lineOf(code, m.index) });
  }
  return out;
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/**
 * Blanks comments and string literals, keeping newlines so line numbers hold.
 * Token boundaries come from the one Lua tokenizer (src/lua/lexer.ts).
 */
export function stripCommentsAndStrings(src: string): string {
  let out = '';
  let at = 0;
  for (const t of tokenizeLua(src)) {
    if (t.kind !== 'comment' && t.kind !== 'string' && t.kind !== 'longString') continue;
    out += src.slice(at, t.start) + src.slice(t.start, t.end).replace(/[^\n]/g, ' ');
    at = t.end;
  }
  return out + src.slice(at);
}
