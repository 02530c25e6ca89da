import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { fengariPatchReport, patchSource, requirePatchedFengari } from '../../src/lua/fengari-patch.ts';
import { lua, to_luastring } from '../../src/lua/fengari.ts';
import { makeVm } from './helpers.ts';

describe('fengari source patches', () => {
  it('all apply to the installed fengari, so an upgrade that breaks one fails here', () => {
    makeVm(); // fengari is loaded by then
    const report = fengariPatchReport();
    // (The test below adds an "already loaded" entry on purpose; order must not matter.)
    expect(report.skipped.filter((s) => !s.startsWith('fengari: already loaded'))).toEqual([]);
    expect([...report.applied].sort()).toEqual([
      'lapi.js: field name cache',
      'lapi.js: field names given as JS strings: one Lua string each',
      'lapi.js: pop stack slots by assignment, not delete',
      'ldebug.js: pop stack slots by assignment, not delete',
      'ldo.js: pop stack slots by assignment, not delete',
      'lparser.js: pop stack slots by assignment, not delete',
      'lstring.js: string table keys: one latin1 character per byte',
      'ltm.js: pop stack slots by assignment, not delete',
      'lvm.js: pop stack slots by assignment, not delete',
    ]);
  });

  it('keeps string keys whose hex digits run together apart (unpatched fengari maps "\\1#" and "\\18\\3" to one slot)', () => {
    const { run } = makeVm();
    expect(run('local t = {} t["\\1#"] = "a" t["\\18\\3"] = "b" return t["\\1#"], t["\\18\\3"]')).toEqual(['a', 'b']);
  });

  it('still pops the stack correctly through calls, varargs, errors and metamethods', () => {
    const { run } = makeVm();
    const code = `
      local function f(...) return select('#', ...), ... end
      local mt = { __index = function(_, k) return k .. "!" end, __add = function(a, b) return 42 end }
      local o = setmetatable({}, mt)
      local ok, err = pcall(function() error("boom", 0) end)
      local n, a, b = f(1, nil, 3)
      return n, a, b, o.x, o + o, ok, err, select(2, pcall(string.rep, "ab", 3))`;
    expect(run(code)).toEqual([3, 1, null, 'x!', 42, false, 'boom', 'ababab']);
  });

  it('reports fengari loaded by someone else first as unpatched instead of patching it twice', () => {
    const req = createRequire(import.meta.url);
    const before = fengariPatchReport().skipped.length;
    // fengari is cached by now (makeVm loaded it), as it would be had an embedding program required it first.
    makeVm();
    expect(requirePatchedFengari(req)).toBe(req('fengari'));
    expect(fengariPatchReport().skipped.slice(before)).toEqual(['fengari: already loaded before moonwatch could patch it']);
  });

  it('leaves a file whose source does not match exactly as it is, and says why', () => {
    const source = 'const a = 1;\ndelete L.stack[--L.top];\n';
    const result = patchSource('ldo.js', source);
    expect(result.source).toBe(source);
    expect(result.applied).toEqual([]);
    expect(result.skipped).toEqual(['ldo.js: pop stack slots by assignment, not delete (found 1, expected 5)']);
    expect(patchSource('lauxlib.js', source)).toEqual({ source, applied: [], skipped: [] });
  });
});

describe('field names from JS (lapi.js field name cache)', () => {
  it('reads and writes fields by JS name as before, metamethods and non-ASCII names included', () => {
    const { vm, run } = makeVm();
    const L = vm.L;
    run('t = setmetatable({ ["ключ"] = "v" }, { __index = function(_, k) return "via __index: " .. k end })');
    lua.lua_getglobal(L, 't');
    lua.lua_getfield(L, -1, 'ключ');
    lua.lua_getfield(L, -2, 'missing');
    expect([lua.lua_tojsstring(L, -2), lua.lua_tojsstring(L, -1)]).toEqual(['v', 'via __index: missing']);
    lua.lua_pushstring(L, to_luastring('set from JS'));
    lua.lua_setfield(L, -4, 'missing');
    lua.lua_settop(L, 0);
    expect(run('return rawget(t, "missing"), t["ключ"]')).toEqual(['set from JS', 'v']);
  });

  it('keeps working past the cache size with many distinct names', () => {
    const { vm, run } = makeVm();
    const L = vm.L;
    run('t = {}');
    lua.lua_getglobal(L, 't');
    for (let i = 0; i < 3000; i++) {
      lua.lua_pushnumber(L, i);
      lua.lua_setfield(L, 1, `k${i}`);
    }
    lua.lua_settop(L, 0);
    expect(run('local n = 0 for _ in pairs(t) do n = n + 1 end return n, t.k0, t.k2999')).toEqual([3000, 0, 2999]);
  });
});
