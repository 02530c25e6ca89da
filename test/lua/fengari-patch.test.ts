import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { FENGARI_VERSION, FengariUnsupportedError, loadPatchedFengari, PATCHES, patchSource } from '../../src/lua/fengari-patch.ts';
import { fengariPatchReport, lua, to_luastring } from '../../src/lua/fengari.ts';
import type { FengariModule as Fengari, LuaState } from '../../src/lua/fengari-types.ts';
import { makeVm, thrown } from './helpers.ts';

/** Fengari with every patch, and another copy without the patches `leaveOut` picks. */
function withAndWithout(leaveOut: (p: (typeof PATCHES)[number]) => boolean): { withPatch: Fengari; without: Fengari; left: string[] } {
  const req = createRequire(import.meta.url);
  const all = loadPatchedFengari(req, PATCHES);
  const some = loadPatchedFengari(req, PATCHES.filter((p) => !leaveOut(p)));
  return { withPatch: all.exports as Fengari, without: some.exports as Fengari, left: all.report.applied.filter((n) => !some.report.applied.includes(n)) };
}

/** A new state of `f` with the standard libraries and `chunk` loaded on the stack. */
function stateWith(f: Fengari, chunk: string): LuaState {
  const L = f.lauxlib.luaL_newstate();
  f.lualib.luaL_openlibs(L);
  expect(f.lauxlib.luaL_loadstring(L, f.to_luastring(chunk))).toBe(f.lua.LUA_OK);
  return L;
}

/**
 * Runs `probe` (ES module source lines) in a fresh Node under tsx with `flags`,
 * `module` as process.argv[1]; returns the JSON its last output line holds.
 */
function inFreshProcess(probe: readonly string[], module: string, flags: readonly string[] = [], env: NodeJS.ProcessEnv = process.env): unknown {
  const file = fileURLToPath(new URL(module, import.meta.url));
  const r = spawnSync(process.execPath, [...flags, '--import', 'tsx', '--input-type=module', '-e', probe.join('\n'), file], { encoding: 'utf8', env });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

/** The string `chunk` returns, run on a new state of `f`. */
function resultOf(f: Fengari, chunk: string): string | null {
  const L = stateWith(f, chunk);
  expect(f.lua.lua_pcall(L, 0, 1, 0)).toBe(f.lua.LUA_OK);
  return f.lua.lua_tojsstring(L, -1);
}

describe('fengari source patches', () => {
  it('all apply to the installed fengari, so an upgrade that breaks one fails here', () => {
    makeVm(); // fengari is loaded by then
    const report = fengariPatchReport();
    expect(report.version).toBe(FENGARI_VERSION);
    expect(report.skipped).toEqual([]);
    expect([...report.applied].sort()).toEqual([
      'defs.js: an ASCII JS string becomes Lua bytes in one pass',
      'lapi.js: an option field read in place',
      'lapi.js: field names given as JS strings: one Lua string each',
      'lapi.js: lua_pcallk keeps the count hook after an error caught inside a coroutine',
      'lapi.js: pop stack slots by assignment, not delete',
      'lauxlib.js: metafield names: one Lua string each',
      'ldebug.js: pop stack slots by assignment, not delete',
      'ldo.js: pop stack slots by assignment, not delete',
      'ldo.js: reuse CallInfo entries: a return keeps the next entry',
      'ldo.js: yield without throwing from a JS function the interpreter called directly',
      'llex.js: the lexer counts its tokens as steps',
      'lobject.js: a Lua string keeps the JS string it was read as: the read',
      "lobject.js: a full userdata's JS object is an ordinary object without a prototype chain to Object",
      'lobject.js: constant folding and lua_arith widen to float like the VM',
      'lopcodes.js: an instruction remembers the table entry it last read',
      'lparser.js: pop stack slots by assignment, not delete',
      'lstate.js: reuse CallInfo entries',
      'lstate.js: yield without throwing: the thread records its nCcalls at resume',
      'lstring.js: a Lua string keeps the JS string it was read as',
      'lstring.js: a Lua string remembers the table entry it last found',
      'lstring.js: a pushed string is copied with the typed array copy constructor',
      'lstring.js: string allocation is metered',
      'lstring.js: string table keys: one latin1 character per byte',
      'lstrlib.js: pattern matching counts its steps',
      'ltable.js: a Lua string remembers the table entry it last found: the read',
      'ltable.js: a table can name the fixed table its reads fall back to',
      'ltable.js: table growth is metered',
      'ltable.js: the map of deleted keys is made when a key is first deleted',
      'ltm.js: pop stack slots by assignment, not delete',
      'lua.js: an option field read in place: exported',
      'luaconf.js: configuration fixed in the source, not read from FENGARICONF',
      'lundump.js: an instruction remembers the table entry it last read: instructions of binary chunks',
      "lvm.js: a protected table's read goes to its backing table without a metamethod lookup",
      'lvm.js: an instruction remembers the table entry it last read: the reads',
      'lvm.js: integer arithmetic widens to float instead of wrapping at 32 bits',
      'lvm.js: pop stack slots by assignment, not delete',
      'lvm.js: the count hook is counted down in the interpreter loop',
      "lvm.js: the interpreter reads a frame's closure, constants, base and code once per frame",
      'lvm.js: yield without throwing: the interpreter returns when a JS function it called yielded',
    ]);
  });

  it("gives a full userdata an object that inherits no key, with the userdata patch as without", () => {
    const { withPatch, without, left } = withAndWithout((p) => p.what.startsWith("a full userdata's JS object"));
    expect(left).toEqual(["lobject.js: a full userdata's JS object is an ordinary object without a prototype chain to Object"]);
    const probe = (f: Fengari): unknown[] => {
      const L = f.lauxlib.luaL_newstate();
      const data = f.lua.lua_newuserdata(L, 0) as Record<string, unknown>;
      const inherited = ['toString', 'constructor', 'hasOwnProperty', '__proto__', 'valueOf'].map((k) => data[k]);
      data['f'] = 'file';
      data['closef'] = null;
      return [inherited, Object.keys(data), f.lua.lua_touserdata(L, -1) === data, data['f'], 'closef' in data, 'nope' in data];
    };
    const expected = [[undefined, undefined, undefined, undefined, undefined], ['f', 'closef'], true, 'file', true, false];
    expect(probe(without)).toEqual(expected);
    expect(probe(withPatch)).toEqual(expected);
  });

  it('traverses a table whose keys are deleted during the traversal the same with the lazy deleted-keys map as without', () => {
    const { withPatch, without, left } = withAndWithout((p) => p.what.startsWith('the map of deleted keys'));
    expect(left).toEqual(['ltable.js: the map of deleted keys is made when a key is first deleted']);
    // next() steps past a key deleted while the traversal stood on it; the map is dropped again when a key is added.
    const chunk = `
      local t = { a = 1, b = 2, c = 3, d = 4, [1] = "x", [2] = "y", [{}] = true }
      local seen, n = {}, 0
      for k, v in pairs(t) do n = n + 1 seen[#seen + 1] = type(k) == "table" and "tbl" or tostring(k) t[k] = nil end
      table.sort(seen)
      local empty = next(t) == nil
      t.e = 5 t.f = 6
      local again = {}
      for k in pairs(t) do again[#again + 1] = k t[k] = nil end
      table.sort(again)
      local ok, err = pcall(next, t, "never-there")
      return table.concat(seen, ",") .. "|" .. n .. "|" .. tostring(empty) .. "|" .. table.concat(again, ",") .. "|" .. tostring(ok) .. ":" .. tostring(err):match("invalid key to 'next'")`;
    const expected = "1,2,a,b,c,d,tbl|7|true|e,f|false:invalid key to 'next'";
    expect(resultOf(without, chunk)).toBe(expected);
    expect(resultOf(withPatch, chunk)).toBe(expected);
  });

  it('reads a string key the same when its string remembers the entry it last found: overwrites, deletes, re-adds, other tables, __index, globals and keys made at run time', () => {
    const { withPatch, without, left } = withAndWithout((p) => p.what.startsWith('a Lua string remembers'));
    expect([...left].sort()).toEqual(['lstring.js: a Lua string remembers the table entry it last found', 'ltable.js: a Lua string remembers the table entry it last found: the read']);
    // r() and g() read with one constant string each ("k", "gk"): the remembered
    // entry must follow every change, and never answer for another table.
    // remember(t) marks a table as the host marks its own (rememberStringReads).
    const chunk = `
      local t, u = { k = 1 }, { k = "u" }
      remember(t) remember(u) remember(_G)
      local out = {}
      local function r(x) return tostring(x.k) end
      local function g() return tostring(gk) end
      local function add(v) out[#out + 1] = v end
      add(r(t)) add(r(t))
      t.k = 2 add(r(t))
      add(r(u)) add(r(t))
      t.k = nil add(r(t))
      t.k = 3 add(r(t))
      rawset(t, "k", 4) add(r(t))
      local p = setmetatable({}, { __index = t })
      remember(p)
      add(r(p)) t.k = nil add(r(p)) p.k = "own" add(r(p))
      local key = ("K"):lower()
      t[key] = 5 add(r(t)) add(tostring(t[key]))
      for k in pairs(t) do t[k] = nil end
      add(r(t)) add(tostring(next(t)))
      local co = coroutine.wrap(function(x) while true do x = coroutine.yield(r(x)) end end)
      add(co(u)) u.k = "u2" add(co(u)) add(co(t))
      add(g()) gk = "g1" add(g()) add(g()) gk = nil add(g()) rawset(_G, "gk", "g2") add(g()) _G["g" .. "k"] = "g3" add(g())
      return table.concat(out, ",")`;
    const expected = '1,1,2,u,2,nil,3,4,4,nil,own,5,5,nil,nil,u,u2,nil,nil,g1,g1,nil,g2,g3';
    const run = (f: Fengari): string | null => {
      const L = stateWith(f, chunk);
      f.lua.lua_pushcfunction(L, (Ls: LuaState) => {
        (f.lua.lua_topointer(Ls, 1) as { mw$ic?: boolean }).mw$ic = true;
        return 0;
      });
      f.lua.lua_setglobal(L, f.to_luastring('remember'));
      expect(f.lua.lua_pcall(L, 0, 1, 0)).toBe(f.lua.LUA_OK);
      return f.lua.lua_tojsstring(L, -1);
    };
    expect(run(without)).toBe(expected);
    expect(run(withPatch)).toBe(expected);
  });

  it('reads a constant key the same when its instruction remembers the entry it last read: globals, marked tables, empty library proxies, userdata methods, and every change to them', () => {
    const { withPatch, without, left } = withAndWithout((p) => p.what.startsWith('an instruction remembers'));
    expect([...left].sort()).toEqual([
      'lopcodes.js: an instruction remembers the table entry it last read',
      'lundump.js: an instruction remembers the table entry it last read: instructions of binary chunks',
      'lvm.js: an instruction remembers the table entry it last read: the reads',
    ]);
    // Each read below is one instruction run many times: GETTABUP (gk), GETTABLE
    // (x.k, p.k), SELF (u:get()). The host marks t, u, _G, the proxy's backing
    // table and the userdata's metatable and methods (remember), as moonwatch
    // marks its own; proxy(b) is an empty table whose reads go to b
    // (protect.ts's mw$index); newud() a userdata whose __index is `methods`.
    const chunk = `
      local t, u = { k = 1 }, { k = "u" }
      remember(t) remember(u) remember(_G)
      local out = {}
      local function add(v) out[#out + 1] = tostring(v) end
      local function r(x) return x.k end
      local function g() return gk end
      add(r(t)) add(r(t)) t.k = 2 add(r(t)) add(r(u)) add(r(t))
      t.k = nil add(r(t)) t.k = 3 add(r(t)) rawset(t, "k", 4) add(r(t))
      local s = setmetatable({}, { __index = t }) add(r(s)) add(r(t))
      local function rk(x, key) return x[key] end
      add(rk(t, "k")) add(rk(t, "j")) add(rk(t, "k"))
      add(g()) gk = "g1" add(g()) add(g()) gk = nil add(g()) rawset(_G, "gk", "g2") add(g()) _G["g" .. "k"] = "g3" add(g())
      local up = t
      local function gu() return up.k end
      add(gu()) add(gu()) up = u add(gu()) up = nil add((select(2, pcall(gu)):gsub("^.-:%d+: ", ""))) up = t add(gu())
      local b = { k = "b1" } remember(b)
      local p = proxy(b)
      add(r(p)) add(r(p)) b.k = "b2" add(r(p)) rawset(p, "k", "own") add(r(p)) rawset(p, "k", nil) add(r(p))
      b.k = nil add(r(p)) b.k = "b3" add(r(p)) add(r(b))
      local ud = newud()
      local function m(x) return x:get() end
      add(m(ud)) add(m(ud)) methods.get = function() return "m2" end add(m(ud))
      methods.get = nil add((select(2, pcall(m, ud)):gsub("^.-:%d+: ", "")))
      methods.get = function() return "m3" end add(m(ud)) add(m({ get = function() return "tbl" end }))
      local shares = tablewithudmeta() shares.get = function() return "own" end add(m(shares)) add(m(ud))
      local function rf(x) return type(x.get) end
      add(rf(ud)) add(rf(ud)) add(rf(udmeta())) add(rf(ud))
      local co = coroutine.wrap(function(x) while true do x = coroutine.yield(r(x)) end end)
      add(co(u)) u.k = "u2" add(co(u)) add(co(t))
      local nilup
      local function bad() return nilup.k end
      add((select(2, pcall(bad)):gsub("^.-:%d+: ", "")))
      nilup = t add(bad())
      return table.concat(out, ",")`;
    const expected =
      "1,1,2,u,2,nil,3,4,4,4,4,nil,4,nil,g1,g1,nil,g2,g3,4,4,u,attempt to index a nil value (upvalue 'up'),4,b1,b1,b2,own,b2,nil,b3,b3,m1,m1,m2,attempt to call a nil value (method 'get'),m3,tbl,own,m3,function,function,nil,function,u,u2,4,attempt to index a nil value (upvalue 'nilup'),4";
    const run = (f: Fengari): string | null => {
      const L = stateWith(f, chunk);
      const mark = (Ls: LuaState, idx: number): void => {
        (f.lua.lua_topointer(Ls, idx) as { mw$ic?: boolean }).mw$ic = true;
      };
      f.lua.lua_pushcfunction(L, (Ls: LuaState) => {
        mark(Ls, 1);
        return 0;
      });
      f.lua.lua_setglobal(L, f.to_luastring('remember'));
      f.lua.lua_pushcfunction(L, (Ls: LuaState) => {
        f.lua.lua_createtable(Ls, 0, 0);
        (f.lua.lua_topointer(Ls, -1) as { mw$index?: unknown }).mw$index = f.lua.lua_topointer(Ls, 1);
        f.lua.lua_createtable(Ls, 0, 1);
        f.lua.lua_pushvalue(Ls, 1);
        f.lua.lua_setfield(Ls, -2, f.to_luastring('__index'));
        f.lua.lua_setmetatable(Ls, -2);
        return 1;
      });
      f.lua.lua_setglobal(L, f.to_luastring('proxy'));
      // methods = { get = <returns "m1"> }, and newud() gives a userdata reading it through its metatable.
      f.lua.lua_createtable(L, 0, 1);
      f.lua.lua_pushcfunction(L, (Ls: LuaState) => {
        f.lua.lua_pushstring(Ls, f.to_luastring('m1'));
        return 1;
      });
      f.lua.lua_setfield(L, -2, f.to_luastring('get'));
      mark(L, -1);
      f.lua.lua_pushvalue(L, -1);
      f.lua.lua_setglobal(L, f.to_luastring('methods'));
      f.lua.lua_createtable(L, 0, 1);
      mark(L, -1);
      f.lua.lua_insert(L, -2);
      f.lua.lua_setfield(L, -2, f.to_luastring('__index'));
      const mtRef = f.lauxlib.luaL_ref(L, f.lua.LUA_REGISTRYINDEX);
      f.lua.lua_pushcfunction(L, (Ls: LuaState) => {
        f.lua.lua_newuserdata(Ls, 0);
        f.lua.lua_rawgeti(Ls, f.lua.LUA_REGISTRYINDEX, mtRef);
        f.lua.lua_setmetatable(Ls, -2);
        return 1;
      });
      f.lua.lua_setglobal(L, f.to_luastring('newud'));
      // A table with the userdata's metatable (only the host could make one): its own fields come first.
      f.lua.lua_pushcfunction(L, (Ls: LuaState) => {
        f.lua.lua_createtable(Ls, 0, 0);
        f.lua.lua_rawgeti(Ls, f.lua.LUA_REGISTRYINDEX, mtRef);
        f.lua.lua_setmetatable(Ls, -2);
        return 1;
      });
      f.lua.lua_setglobal(L, f.to_luastring('tablewithudmeta'));
      f.lua.lua_pushcfunction(L, (Ls: LuaState) => {
        f.lua.lua_rawgeti(Ls, f.lua.LUA_REGISTRYINDEX, mtRef);
        return 1;
      });
      f.lua.lua_setglobal(L, f.to_luastring('udmeta'));
      const status = f.lua.lua_pcall(L, 0, 1, 0);
      expect(status, f.lua.lua_tojsstring(L, -1) ?? '').toBe(f.lua.LUA_OK);
      return f.lua.lua_tojsstring(L, -1);
    };
    expect(run(without)).toBe(expected);
    expect(run(withPatch)).toBe(expected);
  });

  it('encodes a JS string to the same bytes with the one-pass ASCII path as without', () => {
    const { withPatch, without, left } = withAndWithout((p) => p.what.startsWith('an ASCII JS string'));
    expect(left).toEqual(['defs.js: an ASCII JS string becomes Lua bytes in one pass']);
    const samples = ['', 'a', 'alice@example.test', '\x7f', '\x80', 'é', 'aé', 'x€y', '😀', 'a😀b', '\ud800', 'x\ud800y', '\udc00', 'tail\u07ff'];
    const bytes = (f: Fengari, cache: boolean) => samples.map((str) => [...f.to_luastring(str, cache)]);
    expect(bytes(withPatch, false)).toEqual(bytes(without, false));
    expect(bytes(withPatch, true)).toEqual(bytes(without, false));
    expect(bytes(withPatch, true)).toEqual(bytes(withPatch, false));
    expect([...withPatch.to_luastring('é')]).toEqual([0xc3, 0xa9]);
    expect([...withPatch.to_luastring('ok')]).toEqual([0x6f, 0x6b]);
    // A cached conversion is the same array each time; an uncached one a new array.
    expect(withPatch.to_luastring('cached-key', true)).toBe(withPatch.to_luastring('cached-key', true));
    expect(withPatch.to_luastring('fresh')).not.toBe(withPatch.to_luastring('fresh'));
  });

  it('gives a pushed string the same bytes with the copy constructor as without, and never shares the caller\'s buffer', () => {
    const { withPatch, without, left } = withAndWithout((p) => p.what.startsWith('a pushed string is copied'));
    expect(left).toEqual(['lstring.js: a pushed string is copied with the typed array copy constructor']);
    const backing = Uint8Array.from([0x78, 0x41, 0x42, 0xc3, 0xa9, 0x00, 0x79]);
    const inputs = [new Uint8Array(0), Uint8Array.from([0x61]), backing, backing.subarray(1, 5), Buffer.from('buffer bytes')];
    const pushed = (f: Fengari) =>
      inputs.map((bytes) => {
        const L = f.lauxlib.luaL_newstate();
        f.lua.lua_pushstring(L, bytes);
        const copy = f.lua.lua_tolstring(L, -1) as Uint8Array;
        expect(copy.buffer).not.toBe(bytes.buffer); // a copy, not the caller's buffer
        expect(copy).toBeInstanceOf(Uint8Array);
        return [...copy];
      });
    expect(pushed(withPatch)).toEqual(pushed(without));
    expect(pushed(withPatch)[3]).toEqual([0x41, 0x42, 0xc3, 0xa9]); // a view copies only its own bytes
    // Changing the caller's buffer afterwards does not change the Lua string.
    const L = withPatch.lauxlib.luaL_newstate();
    const mutable = Uint8Array.from([0x6f, 0x6b]);
    withPatch.lua.lua_pushstring(L, mutable);
    mutable[0] = 0x4e;
    expect(withPatch.lua.lua_tojsstring(L, -1)).toBe('ok');
    expect(resultOf(withPatch, 'return string.lower("MiXeD ÉtÉ")')).toBe(resultOf(without, 'return string.lower("MiXeD ÉtÉ")'));
  });

  it('answers tostring, getmetatable and pairs the same when metafield names are kept, in several Lua states in turn', () => {
    const { withPatch, without, left } = withAndWithout((p) => p.what.startsWith('metafield names'));
    expect(left).toEqual(['lauxlib.js: metafield names: one Lua string each']);
    const chunk = `
      local mt = { __tostring = function(x) return "T" .. x.n end, __metatable = "locked",
        __pairs = function(t) return function(_, k) if not k then return "p", 1 end end, t, nil end }
      local a = setmetatable({ n = 1 }, mt)
      local out = {}
      out[#out + 1] = tostring(a) out[#out + 1] = tostring(a)
      out[#out + 1] = tostring(getmetatable(a))
      for k, v in pairs(a) do out[#out + 1] = k .. v end
      out[#out + 1] = tostring(setmetatable({}, { __name = "Nm" })):match("^Nm: ") and "named" or "unnamed"
      out[#out + 1] = tostring(setmetatable({}, {})):match("^table: ") and "table" or "other"
      out[#out + 1] = tostring(setmetatable({}, { __tostring = function() return 1 end }))
      local reads = { __tostring = "own" }
      out[#out + 1] = reads.__tostring
      return table.concat(out, ",")`;
    const expected = 'T1,T1,locked,p1,named,table,1,own';
    const states = (f: Fengari): (string | null)[] => {
      const a = stateWith(f, chunk);
      const b = stateWith(f, chunk);
      const c = stateWith(f, chunk);
      const run = (L: LuaState): string | null => {
        f.lua.lua_pushvalue(L, -1);
        expect(f.lua.lua_pcall(L, 0, 1, 0)).toBe(f.lua.LUA_OK);
        const out = f.lua.lua_tojsstring(L, -1);
        f.lua.lua_pop(L, 1);
        return out;
      };
      return [run(a), run(b), run(a), run(c), run(b)];
    };
    expect(states(without)).toEqual(Array(5).fill(expected));
    expect(states(withPatch)).toEqual(Array(5).fill(expected));
  });

  it("keeps no script table alive through the strings and instructions that read it: only the host's own tables are remembered, and never by a field or metafield name shared by every state", () => {
    // A fresh process with a collector to call. A table the script made and
    // read with a constant key, then dropped, must be collectable while the
    // function holding that constant lives on; so must a table read through a
    // field name from JS (field names are shared by every Lua state).
    const probe = [
      'const f = await import(process.argv[1]);',
      'f.loadFengari();',
      'const { lua, lauxlib, lualib, to_luastring } = f;',
      'let L = lauxlib.luaL_newstate(); lualib.luaL_openlibs(L);',
      "lauxlib.luaL_dostring(L, to_luastring('read = function(t) return t.script_key end; return { script_key = 1 }'));",
      'const scriptTable = new WeakRef(L.stack[L.top - 1].value);',
      "lua.lua_getglobal(L, to_luastring('read')); lua.lua_pushvalue(L, -2); lua.lua_call(L, 1, 1);",
      'const readByScript = lua.lua_tonumber(L, -1);',
      'lua.lua_settop(L, 0);',
      "let M = lauxlib.luaL_newstate(); lauxlib.luaL_dostring(M, to_luastring('return { shared_field_name = 1 }'));",
      '// Marked as the host marks its own tables, so only the field-name rule keeps it from being remembered.',
      'M.stack[M.top - 1].value.mw$ic = true;',
      'const hostTable = new WeakRef(M.stack[M.top - 1].value);',
      "lua.lua_getfield(M, -1, 'shared_field_name');",
      'const readByHost = lua.lua_tonumber(M, -1);',
      'M = undefined;',
      '// A metatable the host marked, asked for __tostring by tostring(): the kept metafield name is shared by every state.',
      "let N = lauxlib.luaL_newstate(); lualib.luaL_openlibs(N);",
      "lauxlib.luaL_dostring(N, to_luastring('local mt = { __tostring = function() return \"shown\" end } return setmetatable({}, mt), mt'));",
      'N.stack[N.top - 1].value.mw$ic = true;',
      'const metatable = new WeakRef(N.stack[N.top - 1].value);',
      "lua.lua_getglobal(N, to_luastring('tostring')); lua.lua_pushvalue(N, -3); lua.lua_call(N, 1, 1);",
      'const shown = lua.lua_tojsstring(N, -1);',
      'N = undefined;',
      'await new Promise((r) => setTimeout(r, 0)); globalThis.gc(); await new Promise((r) => setTimeout(r, 0)); globalThis.gc();',
      "lua.lua_getglobal(L, to_luastring('read'));",
      'console.log(JSON.stringify({ readByScript, readByHost, shown, readStillThere: lua.lua_type(L, -1) === lua.LUA_TFUNCTION, scriptTable: scriptTable.deref() === undefined, hostTable: hostTable.deref() === undefined, metatable: metatable.deref() === undefined }));',
    ];
    expect(inFreshProcess(probe, '../../src/lua/fengari.ts', ['--expose-gc'])).toEqual({ readByScript: 1, readByHost: 1, shown: 'shown', readStillThere: true, scriptTable: true, hostTable: true, metatable: true });
  });

  it('pins fengari exactly in package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies['fengari']).toBe(FENGARI_VERSION);
  });

  it('keeps string keys whose hex digits run together apart (unpatched fengari maps "\\1#" and "\\18\\3" to one slot)', () => {
    const { run } = makeVm();
    expect(run('local t = {} t["\\1#"] = "a" t["\\18\\3"] = "b" return t["\\1#"], t["\\18\\3"]')).toEqual(['a', 'b']);
  });

  // Coroutine shapes whose yield returns up the stack (called straight from the
  // interpreter, in a call or a tail call) and shapes that still throw (inside
  // pcall, a metamethod, a for-in iterator, a JS-called function), with values
  // passed both ways and errors after a resume.
  const YIELD_SHAPES = `
      local log = {}
      local function direct(x) local a, b = coroutine.yield(x, x + 1) return a + b end
      local function tail(x) return coroutine.yield(x * 10) end
      local mt = { __index = function(_, k) return coroutine.yield("index:" .. k) end }
      local co = coroutine.wrap(function(start)
        log[#log + 1] = direct(start)
        log[#log + 1] = tail(start)
        log[#log + 1] = select(2, pcall(function() return coroutine.yield("in pcall") end))
        log[#log + 1] = setmetatable({}, mt).key
        for v in function(_, last) if last == nil then return coroutine.yield("iter") end end do log[#log + 1] = v end
        local ok, err = pcall(function() coroutine.yield("before error") error("late", 0) end)
        log[#log + 1] = tostring(ok) .. ":" .. err
        return "end"
      end)
      local seen = {}
      local function add(...) seen[#seen + 1] = table.concat({...}, ",") end
      add(co(1)) add(co(2, 3)) add(co("t")) add(co("p")) add(co("m")) add(co("i")) add(co()) 
      return table.concat(seen, "|"), table.concat(log, "|")`;

  it('passes values through every kind of coroutine yield, returned or thrown', () => {
    const { run } = makeVm();
    expect(run(YIELD_SHAPES)).toEqual(['1,2|10|in pcall|index:key|iter|before error|end', '5|t|p|m|i|false:late']);
  });

  it('yields by throwing when the interpreter file is unpatched (patches apply file by file)', () => {
    const { without: f, left } = withAndWithout((p) => p.file === 'lvm.js' && p.what.startsWith('yield'));
    expect(left).toEqual(['lvm.js: yield without throwing: the interpreter returns when a JS function it called yielded']);
    const L = stateWith(f, YIELD_SHAPES);
    expect(f.lua.lua_pcall(L, 0, 2, 0)).toBe(f.lua.LUA_OK);
    expect([f.lua.lua_tojsstring(L, -2), f.lua.lua_tojsstring(L, -1)]).toEqual(['1,2|10|in pcall|index:key|iter|before error|end', '5|t|p|m|i|false:late']);
  });

  it('fires count and line hooks at the same instructions as unpatched fengari, whatever the count', () => {
    const { withPatch, without, left } = withAndWithout((p) => p.what === 'the count hook is counted down in the interpreter loop');
    expect(left).toEqual(['lvm.js: the count hook is counted down in the interpreter loop']);
    const chunk = `
      local t = {}
      for i = 1, 25 do
        t[#t + 1] = i * 2
      end
      local function f(n) if n == 0 then return 0 end return n + f(n - 1) end
      return f(10) + #t`;
    /** Each hook event as "event@line", for a count of `count` and the given mask. */
    const trace = (f: Fengari, mask: 'count' | 'line+count', count: number): string[] => {
      const L = stateWith(f, chunk);
      const events: string[] = [];
      const bits = mask === 'count' ? f.lua.LUA_MASKCOUNT : f.lua.LUA_MASKCOUNT | f.lua.LUA_MASKLINE;
      f.lua.lua_sethook(L, (L1, ar) => {
        f.lua.lua_getinfo(L1, 'l', ar);
        events.push(`${ar.event}@${ar.currentline}`);
      }, bits, count);
      expect(f.lua.lua_pcall(L, 0, 1, 0)).toBe(f.lua.LUA_OK);
      expect(f.lua.lua_tonumber(L, -1)).toBe(80);
      return events;
    };
    const instructions = trace(withPatch, 'count', 1).length;
    expect(instructions).toBeGreaterThan(100);
    for (const count of [1, 2, 3, 7, 50, instructions, instructions + 1]) {
      const patched = trace(withPatch, 'count', count);
      expect(patched, `count ${count}`).toEqual(trace(without, 'count', count));
      expect(patched.length, `count ${count}`).toBe(Math.floor(instructions / count));
      expect(trace(withPatch, 'line+count', count), `line+count ${count}`).toEqual(trace(without, 'line+count', count));
    }
  });

  it('runs every change of frame the same when the interpreter reads a frame once (tail calls, returns, varargs, metamethods, coroutines, errors)', () => {
    const { withPatch, without, left } = withAndWithout((p) => p.what.endsWith('once per frame'));
    expect(left).toEqual(["lvm.js: the interpreter reads a frame's closure, constants, base and code once per frame"]);
    // Each function uses constants of its own, so a stale k or base after a change of frame shows in the result.
    const chunk = `
      local function leaf(a, b) return a * 1000 + b, "leaf" end
      local function tail(n, acc) if n == 0 then return acc, "tail" end return tail(n - 1, acc + 7) end
      local function varargs(...) local n = select("#", ...) return n, ... end
      local mt = { __index = function(_, k) return k .. ":idx" end, __add = function(a, b) return leaf(3, 4) end }
      local obj = setmetatable({}, mt)
      local co = coroutine.wrap(function(x) local y = coroutine.yield(x + 0.5) return tail(3, y) end)
      local out = {}
      out[#out + 1] = table.concat({ leaf(1, 2) }, ",")
      out[#out + 1] = table.concat({ tail(20, 1) }, ",")
      out[#out + 1] = table.concat({ varargs("a", nil, "c") }, ",", 1, 2)
      out[#out + 1] = obj.key .. "," .. (obj + obj)
      out[#out + 1] = co(1) .. "," .. co(100)
      out[#out + 1] = tostring(select(2, pcall(function() local z = leaf(5, 6) error("e" .. z, 0) end)))
      for i = 1, 3 do out[#out + 1] = select(1, leaf(i, i)) end
      return table.concat(out, "|")`;
    const expected = '1002,leaf|141,tail|3,a|key:idx,3004|1.5,121|e5006|1001|2002|3003';
    expect(resultOf(withPatch, chunk)).toBe(expected);
    expect(resultOf(without, chunk)).toBe(expected);
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

  it('reuses a CallInfo per call depth, and errors and yields after deep calls still see the right frames', () => {
    const { vm, run } = makeVm();
    const code = `
      local function deep(n) if n == 0 then return 0 end return 1 + deep(n - 1) end
      local function fail() error("at depth", 2) end
      local function shallow()
        fail()
      end
      local depth = deep(60)
      local ok, err = pcall(shallow)
      local ok2, err2 = pcall(function() deep(40) return shallow() end)
      local co = coroutine.wrap(function() deep(30) local v = coroutine.yield(deep(5)) return v + deep(2) end)
      local first = co()
      return depth, ok, err, ok2, err2, first, co(10), deep(3)`;
    // Level 2 names the caller's line: the frame below fail's, found through the kept entries.
    expect(run(code)).toEqual([60, false, 'test:5: at depth', false, 'test:5: at depth', 5, 12, 3]);
    // A second run at the same depth makes no new CallInfo: the entries after the current one are kept.
    const current = (): { next: object | null } => (vm.L as unknown as { ci: { next: object | null } }).ci;
    const kept = current().next;
    run('local function f() return 1 end return f()');
    expect(kept).not.toBeNull();
    expect(current().next).toBe(kept);
  });

  it('reads a Lua string as the same JS string every time, non-ASCII and partial reads included', () => {
    const { vm, run } = makeVm();
    const L = vm.L;
    run('s = "60,10" u = "grüße"');
    const read = (name: string): string => {
      lua.lua_getglobal(L, name);
      const text = lua.lua_tojsstring(L, -1) as string;
      lua.lua_pop(L, 1);
      return text;
    };
    expect([read('s'), read('s'), read('u'), read('u')]).toEqual(['60,10', '60,10', 'grüße', 'grüße']);
    // The string object keeps what it was read as.
    lua.lua_getglobal(L, 'u');
    const tv = (L as unknown as { stack: { value: { mw$js?: string } }[]; top: number }).stack[(L as unknown as { top: number }).top - 1]!;
    expect(tv.value.mw$js).toBe('grüße');
    lua.lua_pop(L, 1);
    // A number converted to a string is a new string, never a stale one.
    expect(run('local n = 5 local a = n .. "" n = 6 return a, n .. ""')).toEqual(['5', '6']);
  });

  it('does not alter fengari for other code in the process, nor read or set FENGARICONF', () => {
    makeVm();
    expect(process.env['FENGARICONF']).toBeUndefined();
    const req = createRequire(import.meta.url);
    // Someone else's fengari is the published package: its string keys still use hex digits.
    const theirs = req('fengari') as { lua: { lua_newstate?: unknown } };
    const lstring = req('fengari/src/lstring.js') as { luaS_hash(s: Uint8Array): string };
    expect(lstring.luaS_hash(new Uint8Array([1, 0x23]))).toBe('|123');
    expect(theirs.lua).not.toBe(lua);
  });

  it('leaves a speed patch whose source does not match out, and says why', () => {
    const source = 'const a = 1;\ndelete L.stack[--L.top];\n';
    const result = patchSource('ldo.js', source);
    expect(result.source).toBe(source);
    expect(result.applied).toEqual([]);
    expect(result.failed).toEqual([]);
    expect(result.skipped).toEqual([
      'ldo.js: pop stack slots by assignment, not delete (found 1, expected 5)',
      'ldo.js: yield without throwing from a JS function the interpreter called directly (found 0, expected 1)',
      'ldo.js: reuse CallInfo entries: a return keeps the next entry (found 0, expected 1)',
    ]);
    expect(patchSource('lbaselib.js', source)).toEqual({ source, applied: [], skipped: [], failed: [] });
  });
});

describe("fengari's exports objects", () => {
  it('are all in fast mode in the patched runtime, though V8 keeps some of the published ones in dictionary mode', () => {
    // A fresh process with V8's natives syntax: %HasFastProperties tells the two modes apart.
    const probe = [
      "import { createRequire } from 'node:module';",
      "const { loadPatchedFengari } = await import(process.argv[1]);",
      "const require = createRequire(import.meta.url);",
      "const fast = new Function('o', 'return %HasFastProperties(o)');",
      "const ours = (k) => String(k).includes('/fengari/src/');",
      "const name = (k) => String(k).replace(/.*\\//, '');",
      "const published = [];",
      "require('fengari');",
      "for (const k of Object.keys(require.cache)) if (ours(k) && !fast(require.cache[k].exports)) published.push(name(k));",
      "for (const k of Object.keys(require.cache)) if (ours(k)) delete require.cache[k];",
      "const patched = [];",
      "let files = 0;",
      "const cache = new Proxy(require.cache, { deleteProperty(t, k) { if (ours(k) && t[k]) { files++; if (!fast(t[k].exports)) patched.push(name(k)); } return Reflect.deleteProperty(t, k); } });",
      "loadPatchedFengari(Object.assign((id) => require(id), { resolve: require.resolve, cache }));",
      "console.log(JSON.stringify({ published: published.sort(), patched, files }));",
    ];
    const out = inFreshProcess(probe, '../../src/lua/fengari-patch.ts', ['--allow-natives-syntax']) as { published: string[]; patched: string[]; files: number };
    expect(out.published).toEqual(expect.arrayContaining(['lapi.js', 'lobject.js']));
    expect(out.files).toBeGreaterThan(30);
    expect(out.patched).toEqual([]);
  });
});

describe('importing moonwatch', () => {
  it('loads no Lua runtime and sets no environment variable', () => {
    // A fresh process: this one has fengari loaded by the tests above.
    const probe = [
      "import { createRequire } from 'node:module';",
      "await import(process.argv[1]);",
      "const req = createRequire(import.meta.url);",
      "const loaded = Object.keys(req.cache).filter((k) => k.includes('/fengari/'));",
      "console.log(JSON.stringify({ loaded: loaded.length, env: process.env.FENGARICONF ?? null }));",
    ];
    expect(inFreshProcess(probe, '../../src/index.ts', [], { ...process.env, FENGARICONF: '' })).toEqual({ loaded: 0, env: '' });
  });
});

describe('a fengari moonwatch cannot patch', () => {
  const roots: string[] = [];
  afterAll(() => {
    for (const root of roots) rmSync(root, { recursive: true, force: true });
  });

  /** A copy of the installed fengari under a temp node_modules, with `edit` applied to one file. */
  function fakeFengari(version: string, file: string, edit: (src: string) => string): NodeJS.Require {
    const root = mkdtempSync(join(tmpdir(), 'mw-fengari-'));
    roots.push(root);
    const real = dirname(createRequire(import.meta.url).resolve('fengari/package.json'));
    const dest = join(root, 'node_modules', 'fengari');
    cpSync(real, dest, { recursive: true });
    // fengari's own dependencies, from the real install.
    for (const dep of ['tmp', 'sprintf-js', 'readline-sync']) {
      const pkg = createRequire(join(real, 'package.json')).resolve(`${dep}/package.json`);
      symlinkSync(dirname(pkg), join(root, 'node_modules', dep), 'dir');
    }
    const pkg = JSON.parse(readFileSync(join(dest, 'package.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dest, 'package.json'), JSON.stringify({ ...pkg, version }));
    const target = join(dest, 'src', file);
    writeFileSync(target, edit(readFileSync(target, 'utf8')));
    return createRequire(join(root, 'index.js'));
  }

  it('refuses to run when the string-key fix cannot be applied, naming the version found', () => {
    const req = fakeFengari('0.1.6', 'lstring.js', (src) => src.replace('s += str[i].toString(16);', 's += str[i].toString(16) ;'));
    const err = thrown(() => loadPatchedFengari(req));
    expect(err).toBeInstanceOf(FengariUnsupportedError);
    expect((err as FengariUnsupportedError).code).toBe('MW_ERR_FENGARI_UNSUPPORTED');
    expect((err as Error).message).toContain('fengari 0.1.6 is not supported');
    expect((err as Error).message).toContain('lstring.js: string table keys: one latin1 character per byte (found 0, expected 1)');
    expect((err as Error).message).toContain(`needs fengari ${FENGARI_VERSION}`);
  });

  it('refuses when the count-hook fix cannot be applied', () => {
    const req = fakeFengari('0.1.7', 'lapi.js', (src) => src.replace('ci.callstatus &= ~lstate.CIST_OAH | L.allowhook;', 'ci.callstatus = (ci.callstatus & ~lstate.CIST_OAH) | L.allowhook;'));
    const err = thrown(() => loadPatchedFengari(req)) as FengariUnsupportedError;
    expect(err.code).toBe('MW_ERR_FENGARI_UNSUPPORTED');
    expect(err.failed).toEqual(['lapi.js: lua_pcallk keeps the count hook after an error caught inside a coroutine (found 0, expected 1)']);
  });

  it('runs with a warning-level report when only a speed patch misses', () => {
    const req = fakeFengari('0.1.5', 'ltm.js', (src) => src.replace('delete L.stack[--L.top];', 'L.stack[--L.top] = undefined;'));
    const loaded = loadPatchedFengari(req);
    expect(loaded.report.skipped).toEqual(['ltm.js: pop stack slots by assignment, not delete (found 0, expected 1)']);
    expect(loaded.report.applied).toContain('lapi.js: lua_pcallk keeps the count hook after an error caught inside a coroutine');
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
