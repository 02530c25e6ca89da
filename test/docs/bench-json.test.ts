import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('npm run bench -- --json (README: Benchmarks)', () => {
  it('prints only a JSON array of {name, value, unit, baseline, ratio, target, pass}', () => {
    const r = spawnSync('npm', ['run', '-s', 'bench', '--', '--json', 'lua-raw'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status).toBe(0);
    const results = JSON.parse(r.stdout) as Record<string, unknown>[];
    expect(results.map((x) => x['name'])).toEqual(['lua raw pcall (no hook)', 'LuaVm.call (budget hook armed)']);
    for (const x of results) {
      expect(Object.keys(x).sort()).toEqual(['baseline', 'name', 'pass', 'ratio', 'target', 'unit', 'value']);
      expect(typeof x['value']).toBe('number');
      expect(x['ratio']).toBeCloseTo((x['value'] as number) / (x['baseline'] as number), 2);
      expect(typeof x['pass']).toBe('boolean');
    }
  }, 120_000);
});
