import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModulePathError, ScriptFault, SourceReadError } from '../../src/lua/errors.ts';
import { pushValue } from '../../src/lua/marshal.ts';
import { fsSourceReader, modulePathToFile } from '../../src/lua/sources.ts';
import { LuaVm } from '../../src/lua/vm.ts';
import { captureLogger } from '../../src/log.ts';
import { makeVm, ROOMY_BUDGET, run, thrown } from './helpers.ts';

describe('modulePathToFile', () => {
  it('maps dots and slashes to directories under the scripts root', () => {
    expect(modulePathToFile('inbound.limits')).toBe('inbound/limits.lua');
    expect(modulePathToFile('inbound/limits')).toBe('inbound/limits.lua');
    expect(modulePathToFile('policies/limits.lua')).toBe('policies/limits/lua.lua');
    expect(modulePathToFile('a_b-c.d2')).toBe('a_b-c/d2.lua');
  });

  it('rejects anything that could leave the scripts directory', () => {
    for (const bad of ['', '..', '../etc/passwd', 'a..b', '/etc/passwd', 'a/../../b', 'a\\b', 'a b', 'a\0b', 'C:x', '.hidden', 'a.']) {
      const err = thrown(() => modulePathToFile(bad));
      expect(err, bad).toBeInstanceOf(ModulePathError);
      expect((err as ModulePathError).code).toBe('MW_ERR_SCRIPT_MODULE_PATH');
    }
  });
});

describe('fsSourceReader', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mw-lua-src-'));
  mkdirSync(join(dir, 'inbound'));
  mkdirSync(join(dir, 'adir.lua'));
  writeFileSync(join(dir, 'inbound', 'limits.lua'), 'return { max = 5 }\n');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads files, returns undefined for missing ones and reports unreadable ones', () => {
    const read = fsSourceReader(dir);
    expect(read('inbound/limits.lua')).toBe('return { max = 5 }\n');
    expect(read('inbound/missing.lua')).toBeUndefined();
    expect(read('nodir/x.lua')).toBeUndefined();
    const err = thrown(() => read('adir.lua'));
    expect(err).toBeInstanceOf(SourceReadError);
    expect((err as SourceReadError).code).toBe('MW_ERR_SCRIPT_SOURCE_READ');
    expect(thrown(() => read('../x.lua'))).toBeInstanceOf(ModulePathError);
  });

  it('serves require() in a VM from real files', () => {
    const { logger } = captureLogger();
    const vm = new LuaVm({ sources: fsSourceReader(dir), logger, budget: ROOMY_BUDGET });
    vm.requireModule('inbound.limits');
    expect(run(vm, 'return package.loaded["inbound.limits"].max')).toEqual([5]);
  });
});


describe('require', () => {
  it('returns what the chunk returns, or true, and caches it in package.loaded', () => {
    const reads: string[] = [];
    const files: Record<string, string> = {
      'a.lua': 'loads = (loads or 0) + 1 return { name = ... }',
      'b/c.lua': 'x_from_c = true',
    };
    const { run } = makeVm({}, { sources: (rel) => (reads.push(rel), files[rel]) });
    expect(run('local a1 = require("a") local a2 = require("a") return a1 == a2, a1.name, loads, require("b.c"), require("b/c"), x_from_c')).toEqual([
      true, 'a', 1, true, true, true,
    ]);
    expect(reads).toEqual(['a.lua', 'b/c.lua', 'b/c.lua']); // "b.c" and "b/c" are distinct names for package.loaded
  });

  it('returns host modules from package.loaded and package.preload loaders', () => {
    const { vm, run } = makeVm();
    vm.preload('msys.core', (L) => pushValue(L, { VALIDATE_CONT: 0 }));
    expect(
      run('package.preload["lib.x"] = function(name) return { n = name } end return require("msys.core").VALIDATE_CONT, require("lib.x").n'),
    ).toEqual([0, 'lib.x']);
  });

  it('names the file and line in errors raised by a required chunk', () => {
    const { run } = makeVm({ 'inbound/limits.lua': 'local x = 1\n\nlocal y = nil + x\n' });
    const err = thrown(() => run('require("inbound.limits")')) as ScriptFault;
    expect(err.kind).toBe('runtime');
    expect(err.script).toBe('inbound/limits.lua');
    expect(err.line).toBe(3);
    expect(err.luaMessage).toMatch(/^inbound\/limits\.lua:3: attempt to perform arithmetic on a nil value/);
  });

  it('reports a missing file, a bad name and a cycle as Lua errors scripts can catch', () => {
    const { run } = makeVm({ 'loop/a.lua': 'require("loop.b")', 'loop/b.lua': 'require("loop.a")' });
    const [ok1, e1] = run('return pcall(require, "nope.here")');
    expect([ok1, e1]).toEqual([false, "module 'nope.here' not found in scripts directory (no nope/here.lua)"]);
    const [ok2, e2] = run('return pcall(require, "../../etc/passwd")');
    expect(ok2).toBe(false);
    expect(e2).toContain("invalid module name '../../etc/passwd'");
    const [ok3, e3] = run('return pcall(require, "loop.a")');
    expect(ok3).toBe(false);
    expect(e3).toContain("loop or previous error loading module 'loop.a'");
    expect(run('return package.loaded["loop.a"], package.loaded["loop.b"]')).toEqual([null, null]);
  });
});

describe('requireModule', () => {
  it('is a load fault when the file is missing or does not compile, here or in a module it requires', () => {
    const { vm } = makeVm({
      'broken.lua': 'local x = \n\n',
      'outer.lua': 'require("broken")',
      'runtime.lua': 'error("at load time")',
    });
    const missing = thrown(() => vm.requireModule('absent')) as ScriptFault;
    expect([missing.kind, missing.code]).toEqual(['load', 'MW_ERR_SCRIPT_LOAD']);
    expect(missing.luaMessage).toContain("module 'absent' not found in scripts directory");
    const syntax = thrown(() => vm.requireModule('broken')) as ScriptFault;
    expect(syntax.kind).toBe('load');
    expect([syntax.script, syntax.line]).toEqual(['broken.lua', 3]);
    const nested = thrown(() => vm.requireModule('outer')) as ScriptFault;
    expect(nested.kind).toBe('load');
    expect(nested.script).toBe('broken.lua');
    const runtime = thrown(() => vm.requireModule('runtime')) as ScriptFault;
    expect(runtime.kind).toBe('runtime');
    expect(runtime.luaMessage).toBe('runtime.lua:1: at load time');
    const traversal = thrown(() => vm.requireModule('../x')) as ScriptFault;
    expect(traversal.kind).toBe('load');
  });

  it('runs the module under the budget', () => {
    const { vm } = makeVm({ 'spin.lua': 'while true do end' });
    const err = thrown(() => vm.requireModule('spin', { instructions: 10_000, wallMs: 1_000 })) as ScriptFault;
    expect(err.kind).toBe('budget');
    expect(err.script).toBe('spin.lua');
  });

  it('reads each file through the SourceReader it was given', () => {
    const snapshot = new Map([['m.lua', 'version = 1']]);
    const { vm, run } = makeVm({}, { sources: (rel) => snapshot.get(rel) });
    vm.requireModule('m');
    snapshot.set('m.lua', 'version = 2');
    vm.requireModule('m'); // cached: the VM keeps the generation it loaded
    expect(run('return version')).toEqual([1]);
  });
});
