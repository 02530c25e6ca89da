import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { findComparisons, mutate, runMutationCheck } from '../../src/tools/mutation.ts';
import { workspace } from '../harness/workspace.ts';

const root = join(import.meta.dirname, '../..');

describe('finding comparisons in Lua', () => {
  it('finds every comparison operator with its line, and nothing in strings or comments', () => {
    const src = [
      'local a = x > 1 and y <= 2',                 // 1
      '-- if a == b then (a comment) end',          // 2
      'local s = "x >= y" .. \'a ~= b\'',           // 3
      '--[[ long comment',                          // 4
      '  a < b ]]',                                 // 5
      'local t = [==[ c == d ]==]',                 // 6
      'if p ~= q or p != r or m >= n then end',     // 7
      'local bits = v << 2 | v >> 1',               // 8
      'return u < w',                               // 9
    ].join('\n');
    expect(findComparisons(src).map((c) => [c.line, c.op])).toEqual([
      [1, '>'], [1, '<='], [7, '~='], [7, '!='], [7, '>='], [9, '<'],
    ]);
  });

  it('flips one operator and leaves the rest of the source alone', () => {
    const src = 'if n > 3 then\n  return n == 4\nend';
    expect(mutate(src, 0)).toEqual({ source: 'if n <= 3 then\n  return n == 4\nend', from: '>', to: '<=', line: 1 });
    expect(mutate(src, 1).source).toBe('if n > 3 then\n  return n ~= 4\nend');
    expect(mutate('a >= b', 0).source).toBe('a < b');
    expect(mutate('a < b', 0).source).toBe('a >= b');
    expect(() => mutate(src, 2)).toThrow(RangeError);
  });
});

describe('mutation check', () => {
  it('kills the first mutant of an example policy with its fixtures', async () => {
    const [report] = await runMutationCheck({
      policiesDir: join(root, 'examples/policies'),
      fixturesDir: join(root, 'examples/fixtures'),
      policies: ['session_cap'],
      firstOnly: true,
    });
    expect(report).toMatchObject({ policy: 'session_cap', ok: true, baselineFailures: [] });
    expect(report!.fixtures).toBeGreaterThanOrEqual(2);
    expect(report!.mutants).toHaveLength(1);
    expect(report!.mutants[0]).toMatchObject({ killed: true, from: '==', to: '~=' });
  });

  it('runs as a script: scripts/mutation-check.ts --first dha', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/mutation-check.ts', '--first', 'dha'], { cwd: root });
    expect(stdout).toMatch(/^killed\s+dha: 1\/1 mutants killed by \d+ fixture\(s\)$/m);
    expect(stdout).toMatch(/line \d+: == -> ~=  killed \(caught by examples\/fixtures\/dha\//);
  });

  it('reports a mutant that no fixture notices', async () => {
    const ws = workspace({
      cap: `local m = {}
function m:validate_connect(ac, vctx)
  if msys.audit.connections("300,6") > 100 then vctx:disconnect(421, "busy") end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("cap", m)`,
    });
    try {
      // The fixture accepts any reply, so it cannot tell the policy from its mutant.
      ws.write('fixtures/cap/weak.yaml', `policy: { scripts: ../../policies, modules: [cap] }
start: 2025-03-03T10:00:00Z
steps:
  - session: { from: 192.0.2.1, commands: [{ connect: , expect: any }] }
`);
      const [report] = await runMutationCheck({ policiesDir: join(ws.dir, 'policies'), fixturesDir: join(ws.dir, 'fixtures') });
      expect(report).toMatchObject({ policy: 'cap', fixtures: 1, ok: false });
      expect(report!.mutants).toEqual([{ line: 3, from: '>', to: '<=', killed: false }]);
    } finally {
      ws.remove();
    }
  });
});
