import { describe, expect, it } from 'vitest';
import { lauxlib, lua, to_luastring } from '../../src/lua/fengari.ts';
import { checkInternalsShape, currentFrame, holdTop, optionValue, pushHeld, restoreThread, saveThread } from '../../src/lua/vm-internals.ts';
import { defineUserdataType } from '../../src/msys/userdata.ts';
import { makeVm } from './helpers.ts';

describe("fengari's private fields moonwatch depends on (src/lua/vm-internals.ts)", () => {
  it('have the shape vm-internals.ts expects on the installed fengari', () => {
    const { vm } = makeVm();
    expect(() => checkInternalsShape(vm.L)).not.toThrow();
    // A coroutine has the same per-thread fields.
    const co = lua.lua_newthread(vm.L);
    const snapshot = saveThread(co);
    expect(Object.keys(snapshot).sort()).toEqual(['allowhook', 'ci', 'errfunc', 'errorJmp', 'nCcalls', 'nny']);
    expect(typeof snapshot.nCcalls).toBe('number');
    lua.lua_pop(vm.L, 1);
  });

  it('reads an option field in place as lua_getfield gives it, and declines what it cannot read that way', () => {
    const { vm, run } = makeVm();
    const L = vm.L;
    run(`plain = { n = 4, f = 2.5, big = 2^40, t = true, no = false, s = "3", sub = {} }
         inherited = setmetatable({ own = 1 }, { __index = { n = 7 } })`);
    lua.lua_getglobal(L, 'plain');
    const viaApi = (key: string): unknown => {
      const t = lua.lua_getfield(L, 1, key);
      const v = t === lua.LUA_TNIL ? null : t === lua.LUA_TNUMBER ? lua.lua_tonumber(L, -1) : t === lua.LUA_TBOOLEAN ? lua.lua_toboolean(L, -1) : 'other';
      lua.lua_pop(L, 1);
      return v;
    };
    for (const key of ['n', 'f', 'big', 't', 'no', 'missing']) expect(optionValue(L, 1, key), key).toEqual(viaApi(key));
    expect([optionValue(L, 1, 'n'), optionValue(L, 1, 'f'), optionValue(L, 1, 'big'), optionValue(L, 1, 'no'), optionValue(L, 1, 'missing')]).toEqual([4, 2.5, 2 ** 40, false, null]);
    // A string or a table is for the API path (with its conversions and errors); so is any table with a metatable.
    expect(optionValue(L, 1, 's')).toBeUndefined();
    expect(optionValue(L, 1, 'sub')).toBeUndefined();
    expect(optionValue(L, -1, 'n')).toBe(4);
    lua.lua_getglobal(L, 'inherited');
    expect(optionValue(L, 2, 'own')).toBeUndefined();
    expect(optionValue(L, 2, 'n')).toBeUndefined();
    // Not a table at all.
    lua.lua_pushnumber(L, 1);
    expect(optionValue(L, 3, 'n')).toBeUndefined();
    expect(lua.lua_gettop(L)).toBe(3);
    lua.lua_settop(L, 0);
  });

  it("marks the host's own tables for remembered string reads (globals, libraries, userdata methods and metatables) and no table a script makes", () => {
    const { vm, run } = makeVm();
    vm.seal(); // as every generation does once its libraries are installed
    const L = vm.L;
    const marked = (): boolean => (lua.lua_topointer(L, -1) as { mw$ic?: boolean }).mw$ic === true;
    const seen: Record<string, boolean> = {};
    lua.lua_pushglobaltable(L);
    seen['globals'] = marked();
    lua.lua_pop(L, 1);
    // string is a protected library: its entries live in the backing table its reads fall back to.
    lua.lua_getglobal(L, 'string');
    seen['string proxy'] = marked();
    seen['string backing'] = (lua.lua_topointer(L, -1) as { mw$index?: { mw$ic?: boolean } }).mw$index?.mw$ic === true;
    lua.lua_pop(L, 1);
    defineUserdataType(L, { name: 'test.remembered', label: 'remembered', methods: { m: () => 0 } });
    lauxlib.luaL_getmetatable(L, to_luastring('test.remembered'));
    seen['userdata metatable'] = marked();
    lua.lua_getfield(L, -1, '__index');
    seen['userdata methods'] = marked();
    lua.lua_pop(L, 2);
    run('mine = { k = 1 }');
    lua.lua_getglobal(L, 'mine');
    seen['script table'] = marked();
    lua.lua_pop(L, 1);
    expect(seen).toEqual({ globals: true, 'string proxy': false, 'string backing': true, 'userdata metatable': true, 'userdata methods': true, 'script table': false });
  });

  it('fails, naming the field, when the internals change shape', () => {
    const { vm } = makeVm();
    const fake = { ...(vm.L as unknown as Record<string, unknown>) };
    delete fake['nCcalls'];
    expect(() => checkInternalsShape(fake as never)).toThrow(/lua_State has no 'nCcalls'/);
    const other = { ...(vm.L as unknown as Record<string, unknown>), l_G: { mainthread: null } };
    expect(() => checkInternalsShape(other as never)).toThrow(/l_G/);
  });

  it('keeps a held table alive and pushes back the same table, on any thread', () => {
    const { vm, run } = makeVm();
    const L = vm.L;
    run('held = { n = 1 }');
    lua.lua_getglobal(L, 'held');
    const h = holdTop(L);
    lua.lua_pop(L, 1);
    run('held = nil; collectgarbage(); collectgarbage()'); // only the host holds it now
    const co = lua.lua_newthread(L);
    pushHeld(co, h);
    lua.lua_setfield(co, -1, 'again'); // t.again = t
    pushHeld(L, h);
    lua.lua_setglobal(L, 'back');
    expect(run('return back.n, back.again == back, rawequal(back, back.again)')).toEqual([1, true, true]);
    lua.lua_pop(L, 1);
  });

  it('fails when stack slots are no longer { type, value } pairs', () => {
    const { vm } = makeVm();
    const fake = { ...(vm.L as unknown as Record<string, unknown>), stack: undefined };
    expect(() => checkInternalsShape(fake as never)).toThrow(/stack array/);
  });

  it('restores a thread to a saved frame', () => {
    const { vm, run } = makeVm();
    const saved = saveThread(vm.L);
    run('return 1');
    restoreThread(vm.L, saved);
    expect(currentFrame(vm.L)).toBe(saved.ci);
    expect(run('return 2')).toEqual([2]);
  });

  it('hangs the containment meter where the patched library files find it', () => {
    const { vm } = makeVm();
    const g = (vm.L as unknown as { l_G: { mwMeter?: { onSteps: unknown; onBytes: unknown } } }).l_G;
    expect(typeof g.mwMeter?.onSteps).toBe('function');
    expect(typeof g.mwMeter?.onBytes).toBe('function');
  });
});
