import { describe, expect, it } from 'vitest';
import { loadChunk } from '../../src/lua/sources.ts';
import { MarshalError } from '../../src/lua/errors.ts';
import { lua } from '../../src/lua/fengari.ts';
import { pushValue, readValue } from '../../src/lua/marshal.ts';
import { makeVm, thrown } from './helpers.ts';

describe('pushValue', () => {
  it('pushes numbers as floats, so Lua sees plain numbers that never wrap', () => {
    const { vm, run } = makeVm();
    vm.setGlobal('v', (L) => pushValue(L, { count: 3, big: 3_000_000_000, ms: 1_700_000_000_123 }));
    expect(run('return math.type(v.count), tostring(v.count), v.big * 2, v.ms % 1000, "n=" .. v.count')).toEqual([
      'float', '3', 6_000_000_000, 123, 'n=3',
    ]);
  });

  it('maps arrays to 1-based sequences, objects to tables and null/undefined to nil', () => {
    const { vm, run } = makeVm();
    vm.setGlobal('v', (L) =>
      pushValue(L, { list: ['a', 'b', null, 'd'], nested: { ok: true, none: null, skip: undefined }, bytes: new Uint8Array([104, 105]) }),
    );
    expect(run('return #v.list >= 2, v.list[1], v.list[2], v.list[3], v.list[4], v.list[0], v.nested.ok, v.nested.none, v.bytes')).toEqual([
      true, 'a', 'b', null, 'd', null, true, null, 'hi',
    ]);
  });

  it('refuses functions, class instances and cycles, leaving the stack as it was', () => {
    const { vm } = makeVm();
    const L = vm.L;
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    for (const bad of [() => 1, new Date(0), { deep: { fn: () => 1 } }, cyclic, 10n, Symbol('s')]) {
      const err = thrown(() => pushValue(L, bad));
      expect(err).toBeInstanceOf(MarshalError);
      expect((err as MarshalError).code).toBe('MW_ERR_LUA_MARSHAL');
      expect(lua.lua_gettop(L)).toBe(0);
    }
    expect(thrown(() => pushValue(L, [[[1]]], 2))).toBeInstanceOf(MarshalError);
    pushValue(L, [[1]], 2);
    expect(lua.lua_gettop(L)).toBe(1);
  });
});

describe('readValue', () => {
  it('reads sequences as arrays and other tables as objects', () => {
    const { run } = makeVm();
    expect(run('return {1, "two", {x = 1}}, {a = 1, [2] = "b"}, {}, {[1] = "x", [3] = "y"}, {1.5}')).toEqual([
      [1, 'two', { x: 1 }],
      { a: 1, '2': 'b' },
      {},
      { '1': 'x', '3': 'y' },
      [1.5],
    ]);
  });

  it('round-trips what pushValue pushed', () => {
    const { vm } = makeVm();
    const value = { ip: '192.0.2.1', counts: [1, 2, 3], nested: { flag: false, ratio: 0.25 } };
    pushValue(vm.L, value);
    expect(readValue(vm.L, -1)).toEqual(value);
    lua.lua_settop(vm.L, 0);
  });

  it('refuses functions, non-string keys and tables nested past the depth limit, leaving the stack as it was', () => {
    const cases: Array<[string, RegExp]> = [
      ['return { f = print }', /cannot read a Lua function/],
      ['return { [true] = 1 }', /boolean key/],
      ['local t = {} t.t = t return t', /nested too deeply/],
    ];
    for (const [code, message] of cases) {
      const { vm } = makeVm();
      expect(loadChunk(vm.L, code, '=read')).toBe(lua.LUA_OK);
      vm.call(0, 1);
      const err = thrown(() => readValue(vm.L, -1));
      expect(err).toBeInstanceOf(MarshalError);
      expect((err as Error).message).toMatch(message);
      expect(lua.lua_gettop(vm.L)).toBe(1);
    }
  });
});
