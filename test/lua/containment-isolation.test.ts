import { describe, expect, it } from 'vitest';
import { LEVELS } from '../../src/log.ts';
import { ScriptFault } from '../../src/lua/errors.ts';
import { lua } from '../../src/lua/fengari.ts';
import { logs, runSession, testEngine } from '../helpers/engine.ts';
import { makeVm, thrown } from './helpers.ts';


function writeError(run: (code: string) => unknown, code: string): string {
  const err = thrown(() => run(code));
  expect(err).toBeInstanceOf(ScriptFault);
  return (err as ScriptFault).luaMessage;
}

describe('containment: the shared environment is read-only to scripts', () => {
  const makeSealed = () => {
    const t = makeVm();
    t.run('msys = { core = { VALIDATE_CONT = 0 }, audit = { connections = function() return 1 end } }');
    t.vm.seal();
    return t;
  };

  const WRITES: Array<[string, RegExp]> = [
    ['string.format = function() return "pwned" end', /attempt to modify read-only table 'string' \(field 'format'\)/],
    ['string.newthing = 1', /read-only table 'string' \(field 'newthing'\)/],
    ['table.insert = nil', /read-only table 'table' \(field 'insert'\)/],
    ['math.pi = 3', /read-only table 'math' \(field 'pi'\)/],
    ['os.time = function() return 0 end', /read-only table 'os' \(field 'time'\)/],
    ['coroutine.wrap = nil', /read-only table 'coroutine' \(field 'wrap'\)/],
    ['msys.audit.connections = function() return 0 end', /read-only table 'msys.audit' \(field 'connections'\)/],
    ['msys.core.VALIDATE_CONT = 1', /read-only table 'msys.core' \(field 'VALIDATE_CONT'\)/],
    ['msys.extra = {}', /read-only table 'msys' \(field 'extra'\)/],
    ['getmetatable("").__index = { upper = function() return "x" end }', /read-only table 'string metatable' \(field '__index'\)/],
    ['getmetatable("").__index.upper = nil', /read-only table 'string' \(field 'upper'\)/],
    ['print = nil', /attempt to replace read-only global 'print'/],
    ['string = {}', /attempt to replace read-only global 'string'/],
    ['msys = nil', /attempt to replace read-only global 'msys'/],
    ['_G.pairs = function() end', /attempt to replace read-only global 'pairs'/],
    ['rawset(string, "format", print)', /rawset: attempt to modify read-only table 'string'/],
    ['rawset(_G, "tostring", print)', /rawset: attempt to replace read-only global 'tostring'/],
    ['setmetatable(string, nil)', /cannot change a protected metatable/],
    ['table.insert(math, 1)', /read-only table 'math'/],
  ];

  for (const [code, message] of WRITES) {
    it(`refuses \`${code}\` with an error naming what was written`, () => {
      const { run } = makeSealed();
      expect(writeError(run, code)).toMatch(message);
      // Nothing changed.
      expect(run('return string.format("%d", 5), ("x"):upper(), type(print), msys.audit.connections(), math.pi > 3.14')).toEqual(['5', 'X', 'function', 1, true]);
    });
  }

  it('keeps reading, iterating and calling the libraries as before', () => {
    const { run } = makeSealed();
    expect(run(`
      local n = 0 for k, v in pairs(string) do n = n + 1 end
      local m = 0 for k in pairs(msys.audit) do m = m + 1 end
      return n > 10, m, ("a,b"):find(","), string.rep("ab", 2), type(getmetatable("").__index), getmetatable("").__index == string
    `)).toEqual([true, 1, 2, 'abab', 'table', true]);
  });

  it('reads every protected name, missing field and user global as an unsealed state does (the read fallback skips only the metatable lookup)', () => {
    const READS = `
      shadow_me = "user"
      local out = {}
      for _, lib in ipairs({ "string", "table", "math", "os", "coroutine" }) do
        out[#out + 1] = type(_G[lib]) .. ":" .. type(_G[lib].nope)
      end
      return table.concat(out, ","), type(string.format), string.nope, math.floor(2.5), msys.core.VALIDATE_CONT,
        msys.audit.connections(), msys.missing, no_such_global, shadow_me, type(pairs), ("x"):rep(3)
    `;
    const sealed = makeSealed();
    const open = makeVm();
    open.run('msys = { core = { VALIDATE_CONT = 0 }, audit = { connections = function() return 1 end } }');
    const expected = open.run(READS);
    expect(expected).toEqual(['table:nil,table:nil,table:nil,table:nil,table:nil', 'function', null, 2, 0, 1, null, null, 'user', 'function', 'xxx']);
    expect(sealed.run(READS)).toEqual(expected);
    // The fallback is in use: the globals table names the table its reads fall back to.
    const L = sealed.vm.L;
    lua.lua_pushglobaltable(L);
    expect((lua.lua_topointer(L, -1) as { mw$index?: unknown }).mw$index).toBeDefined();
    lua.lua_pop(L, 1);
  });

  it('keeps user globals, module() tables and package.loaded writable (module state, Momentum semantics)', () => {
    const { run } = makeSealed();
    expect(run(`
      counter = (counter or 0) + 1
      counter = counter + 1
      rawset(_G, "other", 5)
      package.loaded["my.mod"] = { x = 1 }
      local t = setmetatable({}, { __index = _G })
      return counter, other, package.loaded["my.mod"].x, t.string == string
    `)).toEqual([2, 5, 1, true]);
  });

  it('stops one session from poisoning what another sees, and logs the write as a script fault', async () => {
    const t = await testEngine({
      scripts: {
        'poison.lua': `local m = {}
function m:validate_connect(ac, vctx)
  if msys.expandMacro("%{i}") == "192.0.2.66" then string.format = function() return "550" end end
  vctx:set_code(450, string.format("%s later", "try"))
  return msys.core.VALIDATE_DONE
end
msys.registerModule("poison", m)`,
      },
    });
    const hostile = await runSession(t, '192.0.2.66');
    expect(hostile.verdicts['connect']).toMatchObject({ action: 'tempfail', code: 451, fault: true });
    const [line] = logs(t.records, /^validate_connect error: /, LEVELS.error);
    expect(line).toMatchObject({ module: 'poison', phase: 'connect', script: 'poison.lua', line: 3, fault: 'runtime' });
    expect(line!.msg).toMatch(/read-only table 'string' \(field 'format'\)/);
    const good = await runSession(t, '192.0.2.1');
    expect(good.verdicts['connect']).toMatchObject({ action: 'tempfail', code: 450, text: 'try later' });
  });
});
