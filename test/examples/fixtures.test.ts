import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { discoverFixtures } from '../../src/harness/discover.ts';
import { runFixtureFile } from '../../src/harness/runner.ts';

const root = join(import.meta.dirname, '../..');
const fixtures = discoverFixtures([join(root, 'examples/fixtures')]);
const POLICIES = ['whitelist', 'ip_rate', 'burst24', 'session_cap', 'smoothed_rate', 'dha'];

describe('example fixtures', () => {
  it('cover each of the six example policies at least twice', () => {
    for (const p of POLICIES) {
      expect(fixtures.filter((f) => f.includes(`/examples/fixtures/${p}/`)).length, p).toBeGreaterThanOrEqual(2);
    }
  });

  it.each(fixtures.map((f) => [relative(root, f), f]))('%s passes', async (_name, file) => {
    const r = await runFixtureFile(file);
    expect(r.error).toBeUndefined();
    expect(r.failure).toBeUndefined();
    expect(r.ok).toBe(true);
  });
});
