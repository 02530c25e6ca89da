import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { discoverFixtures } from '../../src/harness/discover.ts';
import { runFixtureFile } from '../../src/harness/runner.ts';

const root = join(import.meta.dirname, '../..');
const fixtures = discoverFixtures([join(root, 'examples/compat/fixtures')]);

describe('compat example fixtures (the sample-policy shapes of spec §13)', () => {
  it('exist for every shape', () => {
    expect(fixtures.map((f) => relative(join(root, 'examples/compat/fixtures'), f)).sort()).toEqual([
      'hook-logger.yaml',
      'limit-connections-alias.yaml',
      'limit-connections.yaml',
      'training-limits.yaml',
      'training-rbl.yaml',
      'training-sessions.yaml',
    ]);
  });

  it.each(fixtures.map((f) => [relative(root, f), f]))('%s passes', async (_name, file) => {
    const r = await runFixtureFile(file);
    expect(r.error).toBeUndefined();
    expect(r.failure).toBeUndefined();
    expect(r.ok).toBe(true);
  });
});
