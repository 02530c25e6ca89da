import { describe, expect, it } from 'vitest';
import { MoonwatchError } from '../../src/errors.ts';
import { captureLogger, LEVELS } from '../../src/log.ts';
import { loadChunk } from '../../src/lua/sources.ts';
import { LuaVmUsageError, ScriptFault } from '../../src/lua/errors.ts';
import { lauxlib, lua, to_luastring, type LuaState } from '../../src/lua/fengari.ts';
import { hostFunction } from '../../src/lua/marshal.ts';
import { LuaVm } from '../../src/lua/vm.ts';
import { makeVm, pushFunction, ROOMY_BUDGET, thrown } from './helpers.ts';

function pushChunk(vm: LuaVm, code: string): void {
  expect(loadChunk(vm.L, code, '=chunk')).toBe(lua.LUA_OK);
}

describe('LuaVm.call', () => {
  it('leaves the requested results on the stack and returns their count', () => {
    const { vm } = makeVm();
    const L = vm.L;
    lua.lua_pushstring(L, to_luastring('below'));
    pushChunk(vm, 'return function(a, b) return a + b, a * b, "x" end');
    expect(vm.call(0, 1)).toBe(1);
    lua.lua_pushnumber(L, 3);
    lua.lua_pushnumber(L, 4);
    expect(vm.call(2, lua.LUA_MULTRET)).toBe(3);
    expect([lua.lua_tonumber(L, -3), lua.lua_tonumber(L, -2), lua.lua_tojsstring(L, -1)]).toEqual([7, 12, 'x']);
    expect(lua.lua_gettop(L)).toBe(4);
    lua.lua_settop(L, 1);
    pushChunk(vm, 'return 1');
    expect(vm.call(0, 3)).toBe(3);
    expect(lua.lua_isnil(L, -1)).toBe(true);
    expect(lua.lua_tojsstring(L, 1)).toBe('below');
  });

  it('restores the stack below the function and throws a coded ScriptFault on error', () => {
    const { vm } = makeVm();
    const L = vm.L;
    lua.lua_pushstring(L, to_luastring('keep'));
    pushChunk(vm, 'local t = nil\nreturn t.field');
    lua.lua_pushnumber(L, 1);
    const err = thrown(() => vm.call(1, 1)) as ScriptFault;
    expect(err).toBeInstanceOf(ScriptFault);
    expect(err).toBeInstanceOf(MoonwatchError);
    expect([err.code, err.kind, err.line]).toEqual(['MW_ERR_SCRIPT_RUNTIME', 'runtime', undefined]);
    expect(err.luaMessage).toBe("chunk:2: attempt to index a nil value (local 't')");
    expect(lua.lua_gettop(L)).toBe(1);
    expect(lua.lua_tojsstring(L, 1)).toBe('keep');
  });

  it('describes non-string error values without running their metamethods', () => {
    const { run } = makeVm();
    expect((thrown(() => run('error(setmetatable({}, { __tostring = function() while true do end end }))')) as ScriptFault).luaMessage).toBe(
      '(error object is a table value)',
    );
    expect((thrown(() => run('error(42)')) as ScriptFault).luaMessage).toBe('42');
    expect((thrown(() => run('error()')) as ScriptFault).luaMessage).toBe('(error object is a nil value)');
  });

  it('refuses misuse with usage errors that change nothing', () => {
    const { vm } = makeVm();
    expect((thrown(() => vm.call(0, 0)) as LuaVmUsageError).code).toBe('MW_ERR_LUA_VM_USAGE');
    pushChunk(vm, 'return 1');
    expect((thrown(() => vm.call(0, 0, { instructions: 0, wallMs: 10 })) as LuaVmUsageError).code).toBe('MW_ERR_LUA_VM_USAGE');
    expect(lua.lua_gettop(vm.L)).toBe(1);
    expect(vm.call(0, 1)).toBe(1);
    expect(thrown(() => new LuaVm({ sources: () => undefined, logger: captureLogger().logger, budget: { instructions: 5, wallMs: Number.NaN } }))).toBeInstanceOf(
      LuaVmUsageError,
    );
    vm.close();
    expect((thrown(() => vm.call(0, 0)) as LuaVmUsageError).message).toBe('the Lua VM is closed');
    expect(thrown(() => vm.requireModule('x'))).toBeInstanceOf(LuaVmUsageError);
  });
});

describe('host functions and JS exceptions', () => {
  it('turns an Error thrown by a hostFunction into "name: message" at the script position', () => {
    const { vm, run } = makeVm();
    class StoreError extends MoonwatchError {}
    vm.setGlobal('audit', pushFunction(hostFunction('msys.audit.connections', () => {
      throw new StoreError('MW_ERR_TEST', 'store offline');
    })));
    const err = thrown(() => run('local x = 1\naudit()')) as ScriptFault;
    expect(err.luaMessage).toBe('test:2: msys.audit.connections: store offline');
    expect(run('local ok, e = pcall(function() audit() end) return ok, e')).toEqual([false, 'test:1: msys.audit.connections: store offline']);
  });

  it('lets Lua argument errors from inside a hostFunction through unchanged', () => {
    const { vm, run } = makeVm();
    vm.setGlobal('needs_string', pushFunction(hostFunction('needs_string', (L) => {
      lauxlib.luaL_checkstring(L, 1);
      return 0;
    })));
    expect((thrown(() => run('needs_string({})')) as ScriptFault).luaMessage).toBe(
      "test:1: bad argument #1 to 'needs_string' (string expected, got table)",
    );
  });

  it('catches exceptions from unwrapped host functions through lua_atnativeerror', () => {
    const { vm, run, records } = makeVm();
    vm.setGlobal('raw', pushFunction(() => {
      throw new TypeError('cannot read x of undefined');
    }));
    const err = thrown(() => run('raw()')) as ScriptFault;
    expect(err.kind).toBe('runtime');
    expect(err.luaMessage).toBe('test:1: host error: cannot read x of undefined');
    expect(err.traceback).toContain('stack traceback');
    expect(run('return pcall(raw)')).toEqual([false, 'test:1: host error: cannot read x of undefined']);
    expect(records.some((r) => r.level === LEVELS.warn && r.msg === 'JS exception inside a Lua call')).toBe(true);
  });

  it('turns JS stack overflows from deep recursion into faults, not crashes', () => {
    const { vm, run } = makeVm();
    vm.setGlobal('recurse', pushFunction(hostFunction('recurse', () => {
      const down = (n: number): number => down(n + 1) + 1;
      return down(0);
    })));
    expect((thrown(() => run('recurse()')) as ScriptFault).luaMessage).toMatch(/^test:1: recurse: Maximum call stack size exceeded/);
    const meta = thrown(() => run('local t = setmetatable({}, { __index = function(t, k) return t[k] end }) return t.x')) as ScriptFault;
    expect(meta.kind).toBe('runtime');
    expect(meta.luaMessage).toMatch(/stack overflow/);
    expect(run('return 1 + 1')).toEqual([2]);
  });

  it('stays usable when called with the host JS stack nearly exhausted', () => {
    const { vm } = makeVm();
    const L = vm.L;
    const prepared = 400;
    expect(lua.lua_checkstack(L, prepared + 20)).toBe(true);
    for (let i = 0; i < prepared; i++) pushChunk(vm, 'local s = 0 for i = 1, 10 do s = s + i end return s');
    const outcomes = new Map<string, number>();
    const note = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
    let calls = 0;
    let deepest = -1;
    const dive = (d: number): void => {
      try {
        dive(d + 1);
      } catch (err) {
        if (!(err instanceof RangeError)) throw err;
        deepest = d;
      }
      if (d < deepest - 2 * prepared || calls >= prepared) return;
      calls++;
      const top = lua.lua_gettop(L);
      try {
        const n = vm.call(0, 1);
        note(`ok ${lua.lua_tonumber(L, -1)}`);
        lua.lua_pop(L, n);
      } catch (err) {
        if (err instanceof ScriptFault) note(`fault ${/stack overflow/.test(err.luaMessage) ? 'stack overflow' : err.luaMessage}`);
        // Too deep even to enter call() (or to build the fault): nothing a VM can do about that.
        else if (err instanceof RangeError) note('overflow outside the VM');
        else throw err;
        // A failed call consumed its function and nothing else.
        if (lua.lua_gettop(L) < top - 1) note('stack lost values');
      }
    };
    dive(0);
    expect([...outcomes.keys()].filter((k) => !['ok 55', 'fault stack overflow', 'overflow outside the VM'].includes(k))).toEqual([]);
    expect(outcomes.get('fault stack overflow')).toBeGreaterThan(0);
    expect(outcomes.get('ok 55')).toBeGreaterThan(0);
    lua.lua_settop(L, 0);
    pushChunk(vm, 'return 40 + 2');
    expect(vm.call(0, 1)).toBe(1);
    expect(lua.lua_tonumber(L, -1)).toBe(42);
  });
});

describe('globals, modules and print routing', () => {
  it('adds host globals and preloaded modules, refusing pushes that leave other than one value', () => {
    const { vm, run } = makeVm();
    vm.setGlobal('answer', (L) => lua.lua_pushnumber(L, 42));
    vm.preload('host.mod', (L) => lua.lua_pushstring(L, to_luastring('module value')));
    expect(run('return answer, require("host.mod")')).toEqual([42, 'module value']);
    const before = lua.lua_gettop(vm.L);
    expect(thrown(() => vm.setGlobal('none', () => undefined))).toBeInstanceOf(LuaVmUsageError);
    expect(thrown(() => vm.preload('two', (L) => (lua.lua_pushnil(L), lua.lua_pushnil(L))))).toBeInstanceOf(LuaVmUsageError);
    expect(thrown(() => vm.setGlobal('boom', (L) => (lua.lua_pushnil(L), (() => { throw new Error('push failed'); })())))).toHaveProperty(
      'message',
      'push failed',
    );
    expect(lua.lua_gettop(vm.L)).toBe(before);
    expect(run('return none, two, boom')).toEqual([null, null, null]);
  });

  it('sends print output, tab-joined and tostring-ed, to the current handler', () => {
    const { vm, run, printed } = makeVm();
    run('print("a", 1, nil, 2.5, true, setmetatable({}, { __tostring = function() return "T" end }))');
    expect(printed).toEqual(['a\t1\tnil\t2.5\ttrue\tT']);
    const session: string[] = [];
    vm.setPrintHandler((text) => session.push(text));
    run('print("for the session")');
    expect(session).toEqual(['for the session']);
    expect(printed).toHaveLength(1);
  });

  it('logs print output at info with script_print by default', () => {
    const { logger, records } = captureLogger();
    const vm = new LuaVm({ sources: () => undefined, logger, budget: ROOMY_BUDGET });
    pushChunk(vm, 'print("hello", 42)');
    vm.call(0, 0);
    expect(records).toContainEqual(expect.objectContaining({ level: LEVELS.info, msg: 'hello\t42', script_print: true }));
  });
});

describe('LuaVm.resume', () => {
  it('resumes a host-made coroutine across yields under the budget', () => {
    const { vm } = makeVm();
    const co = lua.lua_newthread(vm.L) as LuaState;
    expect(loadChunk(co, 'local a = coroutine.yield(1) return a * 2', '=co')).toBe(lua.LUA_OK);
    expect(vm.resume(co, 0)).toEqual({ status: 'yield', nresults: 1 });
    expect(lua.lua_tonumber(co, -1)).toBe(1);
    lua.lua_settop(co, 0);
    lua.lua_pushnumber(co, 21);
    expect(vm.resume(co, 1)).toEqual({ status: 'ok', nresults: 1 });
    expect(lua.lua_tonumber(co, -1)).toBe(42);

    const spin = lua.lua_newthread(vm.L) as LuaState;
    expect(loadChunk(spin, 'coroutine.yield() while true do end', '=spin')).toBe(lua.LUA_OK);
    expect(vm.resume(spin, 0).status).toBe('yield');
    const err = thrown(() => vm.resume(spin, 0, { instructions: 10_000, wallMs: 1_000 })) as ScriptFault;
    expect(err.kind).toBe('budget');
    expect(err.traceback).toContain('spin:1');
  });
});
