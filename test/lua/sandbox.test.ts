import { describe, expect, it } from 'vitest';
import { lua, to_jsstring, type LuaState } from '../../src/lua/fengari.ts';
import { pushValue } from '../../src/lua/marshal.ts';
import { SANDBOX_GLOBALS } from '../../src/lua/sandbox.ts';
import { ScriptFault } from '../../src/lua/errors.ts';
import { makeVm, thrown } from './helpers.ts';

/**
 * Every path reachable from _G (and from the string metatable), following
 * tables and their metatables. Aliases are recorded but not walked twice.
 */
function reachable(L: LuaState): Set<string> {
  const paths = new Set<string>();
  const seen = new Set<unknown>();
  const walk = (path: string): void => {
    const idx = lua.lua_gettop(L);
    const id = lua.lua_topointer(L, idx);
    if (seen.has(id)) return;
    seen.add(id);
    if (lua.lua_getmetatable(L, idx)) {
      paths.add(`${path}.<metatable>`);
      walk(`${path}.<metatable>`);
      lua.lua_pop(L, 1);
    }
    lua.lua_pushnil(L);
    while (lua.lua_next(L, idx) !== 0) {
      const key =
        lua.lua_type(L, -2) === lua.LUA_TSTRING ? lua.lua_tojsstring(L, -2)! : `[${to_jsstring(lua.lua_typename(L, lua.lua_type(L, -2)))}]`;
      const p = path === '' ? key : `${path}.${key}`;
      paths.add(p);
      if (lua.lua_istable(L, -1)) walk(p);
      lua.lua_pop(L, 1);
    }
  };
  lua.lua_pushglobaltable(L);
  walk('');
  lua.lua_pop(L, 1);
  lua.lua_pushstring(L, '');
  lua.lua_getmetatable(L, -1);
  walk('<string metatable>');
  lua.lua_pop(L, 2);
  return paths;
}

/** What the allow-list says must be reachable, plus the string metatable's __index and package.loaded aliases. */
function allowed(): Set<string> {
  const paths = new Set<string>(['<string metatable>.__index', 'package.loaded._G']);
  for (const [name, members] of Object.entries(SANDBOX_GLOBALS)) {
    paths.add(name);
    if (members === true) continue;
    paths.add(`package.loaded.${name}`);
    for (const m of members) paths.add(`${name}.${m}`);
  }
  return paths;
}

function sorted(s: Set<string>): string[] {
  return [...s].sort();
}

describe('sandbox allow-list', () => {
  it('exposes exactly the allow-listed globals, library members and package.loaded entries', () => {
    const { vm } = makeVm();
    expect(sorted(reachable(vm.L))).toEqual(sorted(allowed()));
  });

  it('grows only by the names the host adds with setGlobal and preload', () => {
    const { vm } = makeVm();
    const core = { VALIDATE_CONT: 0, VALIDATE_DONE: 1 };
    vm.setGlobal('msys', (L) => pushValue(L, { core }));
    vm.preload('msys.core', (L) => pushValue(L, core));
    const extension = [
      'msys',
      'msys.core',
      'msys.core.VALIDATE_CONT',
      'msys.core.VALIDATE_DONE',
      'package.loaded.msys.core',
      'package.loaded.msys.core.VALIDATE_CONT',
      'package.loaded.msys.core.VALIDATE_DONE',
    ];
    expect(sorted(reachable(vm.L))).toEqual(sorted(new Set([...allowed(), ...extension])));
  });

  it('adds io (as Fengari provides it) only when allowIo is set', () => {
    const off = makeVm();
    expect(off.run('return io, package.loaded.io, pcall(require, "io")')).toEqual([null, null, false, expect.any(String)]);
    const on = makeVm({}, { allowIo: true });
    expect(on.run('return type(io), type(io.write), package.loaded.io == io')).toEqual(['table', 'function', true]);
    const extra = [...reachable(on.vm.L)].filter((p) => !allowed().has(p));
    expect(extra.length).toBeGreaterThan(0);
    expect(extra.every((p) => p === 'io' || p.startsWith('io.') || p.startsWith('package.loaded.io'))).toBe(true);
  });

  it('has no way to run commands, touch files, read the environment or reach the debug library', () => {
    const { run } = makeVm();
    const names = [
      'os.execute', 'os.exit', 'os.remove', 'os.rename', 'os.getenv', 'os.tmpname', 'os.setlocale', 'io', 'debug',
      'dofile', 'loadfile', 'string.dump', 'package.loadlib', 'package.searchpath', 'package.cpath', 'package.path',
      'package.searchers', 'js', 'fengari',
    ];
    const code = `return ${names.map((n) => `${n} == nil`).join(', ')}`;
    expect(run(code)).toEqual(names.map(() => true));
    expect(run('return getmetatable("").__index.dump, ("x").dump')).toEqual([null, null]);
    const err = thrown(() => run('return require("debug")'));
    expect(err).toBeInstanceOf(ScriptFault);
    expect((err as ScriptFault).luaMessage).toContain("module 'debug' not found in scripts directory");
  });

  it('rejects binary chunks in load and loadstring, whatever mode is asked for', () => {
    const { run } = makeVm();
    const results = run(`
      local bin = string.char(27) .. "Lua\\83\\0"
      local f1, e1 = load(bin)
      local f2, e2 = load(bin, "x", "b")
      local f3, e3 = loadstring(bin)
      local parts = { bin }
      local f4, e4 = load(function() return table.remove(parts) end)
      return f1, e1, f2, e2, f3, e3, f4, e4`);
    expect(results).toEqual([
      null, "attempt to load a binary chunk (mode is 't')",
      null, "attempt to load a text chunk (mode is 'b')",
      null, "attempt to load a binary chunk (mode is 't')",
      null, "attempt to load a binary chunk (mode is 't')",
    ]);
  });

  it('allows collectgarbage count, collect and step only', () => {
    const { run } = makeVm();
    const [kb, collected, stepped] = run('return collectgarbage("count"), collectgarbage(), collectgarbage("step")');
    expect(kb).toBeGreaterThan(0);
    expect([collected, stepped]).toEqual([0, true]);
    const err = thrown(() => run('collectgarbage("stop")')) as ScriptFault;
    expect(err.code).toBe('MW_ERR_SCRIPT_RUNTIME');
    expect(err.luaMessage).toMatch(/bad argument #1 to 'collectgarbage' \(invalid option 'stop'\)/);
  });
});
