import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { loadFixture } from '../../src/harness/load-fixture.ts';
import { runFixture } from '../../src/harness/runner.ts';

const doc = join(import.meta.dirname, '../../docs/fixtures.md');

it('the complete example in docs/fixtures.md loads and passes against the example policies', async () => {
  const text = readFileSync(doc, 'utf8');
  const yaml = /## A complete example\n\n```yaml\n([\s\S]*?)```/.exec(text)?.[1];
  expect(yaml).toBeDefined();
  const fixture = loadFixture(yaml!, doc);
  expect(new Set(fixture.steps.map((s) => s.kind))).toEqual(new Set(['seed', 'session', 'open', 'send', 'advance', 'assert', 'bulk']));
  const r = await runFixture(fixture);
  expect(r.error).toBeUndefined();
  expect(r.failure).toBeUndefined();
  expect(r.stats.sessions).toBe(604);
});
