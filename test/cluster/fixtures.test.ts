import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { discoverFixtures } from '../../src/harness/discover.ts';
import { runFixtureFile } from '../../src/harness/runner.ts';

const root = join(import.meta.dirname, '../..');
const fixtures = discoverFixtures([join(root, 'examples/cluster/fixtures')]);

describe('cluster fixtures (seeds on other nodes, no Redis)', () => {
  it('exist', () => expect(fixtures.length).toBeGreaterThanOrEqual(2));

  it.each(fixtures.map((f) => [relative(root, f), f]))('%s passes', async (_name, file) => {
    const r = await runFixtureFile(file);
    expect(r.error).toBeUndefined();
    expect(r.failure).toBeUndefined();
    expect(r.ok).toBe(true);
  });
});
