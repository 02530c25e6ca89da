import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { ScriptFault } from '../../src/lua/errors.ts';
import { makeVm, thrown } from './helpers.ts';

const LIMITS = `
module("inbound.limits", package.seeall)
local private = 10
max_connections = 50
function check(n)
  return n <= max_connections, tostring(private)
end
`;

describe('module() and package.seeall', () => {
  it('puts a module file\'s globals in the module table, registered in package.loaded', () => {
    const { run } = makeVm({ 'inbound/limits.lua': LIMITS });
    expect(
      run(`
        local m = require("inbound.limits")
        return m == inbound.limits, package.loaded["inbound.limits"] == m, m.max_connections,
               m.check(40), m._NAME, m._PACKAGE, m._M == m, rawget(_G, "max_connections"), rawget(_G, "check")`),
    ).toEqual([true, true, 50, true, 'inbound.limits', 'inbound.', true, null, null]);
    expect(run('return inbound.limits.check(60)')).toEqual([false, '10']);
  });

  it('reads _G through package.seeall but writes stay in the module', () => {
    const { run } = makeVm({
      'm.lua': 'module("m", package.seeall)\nseen = type(print)\nstring_ok = string.format("%d", 3)',
      'bare.lua': 'module("bare")\nvisible = pcall ~= nil',
    });
    expect(run('require("m") return m.seen, m.string_ok, rawget(_G, "seen")')).toEqual(['function', '3', null]);
    expect(run('require("bare") return bare.visible')).toEqual([false]);
  });

  it('reuses an existing table and keeps functions defined before module() on the old environment', () => {
    const { run } = makeVm({
      'a/b.lua': 'local function before() marker = "in _G" end\nmodule("a.b", package.seeall)\nbefore()\nafter = true',
    });
    expect(run('a = { b = { existing = 1 } } require("a.b") return a.b.existing, a.b.after, marker, rawget(a.b, "marker")')).toEqual([
      1,
      true,
      'in _G',
      null,
    ]);
  });

  it('reports a name conflict when the path is taken by a non-table, and refuses calls from C', () => {
    const { run } = makeVm({ 'x.lua': 'module("x.y")' });
    const err = thrown(() => run('x = 5 require("x")')) as ScriptFault;
    expect(err.luaMessage).toContain('name conflict for module x.y');
    expect(run('return pcall(module, "z")')).toEqual([false, "'module' not called from a Lua function"]);
  });
});

describe('setfenv and getfenv', () => {
  it('gives a function its own environment without touching other closures', () => {
    const { run } = makeVm();
    expect(
      run(`
        local function reader() return value end
        local function other() return value end
        value = "global"
        local env = { value = "private" }
        local same = setfenv(reader, env)
        return reader(), other(), same == reader, getfenv(reader) == env, getfenv(other) == _G`),
    ).toEqual(['private', 'global', true, true, true]);
  });

  it('accepts levels: 1 is the calling function, 0 is the global table', () => {
    const { run } = makeVm();
    expect(
      run(`
        local sandbox = setmetatable({}, { __index = _G })
        local function f()
          setfenv(1, sandbox)
          leaked = "no"
          return getfenv(1) == sandbox, getfenv() == sandbox
        end
        local a, b = f()
        return a, b, rawget(_G, "leaked"), sandbox.leaked, getfenv(0) == _G`),
    ).toEqual([true, true, null, 'no', true]);
  });

  it('refuses host functions and bad levels with Lua errors', () => {
    const { run } = makeVm();
    const [ok1, e1] = run('return pcall(setfenv, print, {})');
    expect(ok1).toBe(false);
    expect(e1).toContain('cannot change environment of given object');
    const [ok2, e2] = run('return pcall(setfenv, 50, {})');
    expect(ok2).toBe(false);
    expect(e2).toContain('invalid level');
    expect(run('return getfenv(print) == _G')).toEqual([true]);
  });
});

describe('5.1 library names and loading', () => {
  it('provides unpack, table.getn and math.mod', () => {
    const { run } = makeVm();
    expect(run('return table.getn({5, 6}), math.mod(7, 3), math.mod(-7, 3), unpack({1, 2, 3})')).toEqual([2, 1, -1, 1, 2, 3]);
  });

  it('runs loadstring and load chunks through the dialect pre-pass, with an optional environment', () => {
    const { run } = makeVm();
    expect(
      run(`
        local f = loadstring("return 1 != 2, 7 \\\\ 2")
        local g = load("return x", "chunk", "t", { x = "from env" })
        local h, err = loadstring("return +", "=named")
        local ne, div = f()
        return ne, div, g(), h, err`),
    ).toEqual([true, 3, 'from env', null, "named:1: unexpected symbol near '+'"]);
  });

  it('reads load() chunks from a reader function', () => {
    const { run } = makeVm();
    expect(run('local parts = { "return ", "4", "2" } local i = 0 return load(function() i = i + 1 return parts[i] end)()')).toEqual([
      42,
    ]);
  });

  it('formats any finite number with %d, truncated, as 5.1 did', () => {
    const { run } = makeVm();
    expect(
      run(`return string.format("%d|%i|%05d|%+d|%-6d|%3d|%.3d|%d", 2.7, 3e9, -42.5, 1e12, 7.5, 5, 4.2, 1700000000123),
                  ("%d items, %s"):format(10, "ok"), string.format("%%d %x", 255)`),
    ).toEqual(['2|3000000000|-0042|+1000000000000|7     |  5|004|1700000000123', '10 items, ok', '%d ff']);
  });

  it('returns floats from math.floor and math.ceil', () => {
    const { run } = makeVm();
    expect(run('return math.type(math.floor(2.5)), math.floor(100000.5) * math.ceil(99999.5), math.floor(-2.5)')).toEqual([
      'float', 1e10, -3,
    ]);
  });

  it('parses numbers as floats like 5.1 so products of counts do not wrap', () => {
    const { run } = makeVm();
    expect(run('return tonumber("100000") * tonumber("100000"), tonumber("ff", 16), tonumber("x")')).toEqual([1e10, 255, null]);
  });

  it('takes os.time and os.date from the injected clock', () => {
    const clock = new ManualClock(Date.UTC(2024, 0, 2, 3, 4, 5));
    const { run } = makeVm({}, { clock });
    expect(run('return os.time(), os.date("!%Y-%m-%d %H:%M:%S"), os.date("!*t").year')).toEqual([
      Date.UTC(2024, 0, 2, 3, 4, 5) / 1000,
      '2024-01-02 03:04:05',
      2024,
    ]);
    clock.advance(60_000);
    expect(run('return os.time(), os.date("!%M", 0), os.difftime(10, 4)')).toEqual([Date.UTC(2024, 0, 2, 3, 5, 5) / 1000, '00', 6]);
  });
});
