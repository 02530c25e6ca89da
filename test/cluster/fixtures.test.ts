import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { discoverFixtures } from '../../src/harness/discover.ts';
import { FixtureError } from '../../src/harness/errors.ts';
import { loadFixture } from '../../src/harness/load-fixture.ts';
import { runFixtureFile } from '../../src/harness/runner.ts';

const HEAD = 'policy:\n  scripts: ./policies\n  modules: [gate]\nstart: 2025-03-03T10:00:00Z\nsteps:\n';

function errorOf(step: string): FixtureError {
  try {
    loadFixture(HEAD + step, '/fx/case.yaml');
  } catch (err) {
    if (err instanceof FixtureError) return err;
    throw err;
  }
  throw new Error('expected a FixtureError');
}

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

  it('reads seeds on other nodes and refuses malformed ones at file:line', () => {
    const f = loadFixture(HEAD + '  - seed: { metric: connections, address: 192.0.2.0/24, count: 5, node: b }\n  - seed: { open: 2, address: 192.0.2.1, node: b }\n', '/fx/case.yaml');
    expect(f.steps[0]).toMatchObject({ kind: 'seed', metric: 'connections', node: 'b', count: 5 });
    expect(f.steps[1]).toMatchObject({ kind: 'seed', open: true, node: 'b', count: 2 });
    const noNode = errorOf('  - seed: { open: 2, address: 192.0.2.1 }\n');
    expect(noNode.code).toBe('MW_ERR_FIXTURE_SCHEMA');
    expect(noNode.message).toMatch(/^\/fx\/case\.yaml:6:\d+: .*name it with "node"/);
    expect(errorOf('  - seed: { open: 2, address: 192.0.2.1, node: b, metric: connections }\n').message).toMatch(/not "metric"/);
    expect(errorOf('  - seed: { metric: connections, address: 192.0.2.1, node: "b c" }\n').message).toMatch(/is not a node name/);
  });
});
