import { describe, expect, it } from 'vitest';
import { fengariPatchReport, patchSource } from '../../src/lua/fengari-patch.ts';
import { makeVm } from './helpers.ts';

describe('fengari source patches', () => {
  it('all apply to the installed fengari, so an upgrade that breaks one fails here', () => {
    makeVm(); // fengari is loaded by then
    const report = fengariPatchReport();
    expect(report.skipped).toEqual([]);
    expect([...report.applied].sort()).toEqual([
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

  it('leaves a file whose source does not match exactly as it is, and says why', () => {
    const source = 'const a = 1;\ndelete L.stack[--L.top];\n';
    const result = patchSource('ldo.js', source);
    expect(result.source).toBe(source);
    expect(result.applied).toEqual([]);
    expect(result.skipped).toEqual(['ldo.js: pop stack slots by assignment, not delete (found 1, expected 5)']);
    expect(patchSource('lauxlib.js', source)).toEqual({ source, applied: [], skipped: [] });
  });
});
