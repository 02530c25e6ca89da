import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import { runFixture } from '../../src/harness/runner.ts';

const root = join(import.meta.dirname, '../..');

/** The YAML code blocks of a markdown file, in order. */
function yamlBlocks(file: string): string[] {
  return [...readFileSync(join(root, file), 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

describe('docs/compat.md and the DNS section of docs/fixtures.md stay true', () => {
  it('the compat: config example parses to the documented values', () => {
    const block = yamlBlocks('docs/compat.md').find((b) => b.includes('compat:'))!;
    const cfg = parseConfig(block, join(root, 'examples/compat/moonwatch.yaml'));
    expect(cfg.compat).toEqual({
      phaseTimeoutMs: 30000,
      dns: { servers: ['127.0.0.1', '192.0.2.53:5353'], timeoutMs: 2000, tries: 2, cacheSize: 1000, cacheTtlMs: 60000 },
    });
    expect(() => parseConfig(block.replace('tries: 2 ', 'tries: 0 '), join(root, 'examples/compat/x.yaml'))).toThrow(/tries/);
    expect(() => parseConfig(block.replace('"127.0.0.1"', '"dns.example"'), join(root, 'examples/compat/x.yaml'))).toThrow(/not a resolver address/);
  });

  it.each([
    ['docs/compat.md', 1],
    ['docs/fixtures.md', 0],
  ])('the fixture DNS example in %s answers as documented', async (file) => {
    const block = yamlBlocks(file).filter((b) => b.includes('dns:') && b.includes('PTR')).pop()!;
    const { policy } = parse(block) as { policy: Record<string, unknown> };
    const result = await runFixture(
      {
        policy: { ...policy, scripts: '../policies' },
        start: '2026-12-05T10:00:00Z',
        steps: [
          { session: { from: '192.0.2.10', commands: ['ehlo', 'mail', { rcpt: 'alice@example.test' }, 'data', 'quit'] } },
          { assert: [{ printed: 'mail from sender@example.test (limits default)', count: 1 }, { printed: 'fcdns:', count: 0 }, { delivered: 1 }] },
        ],
      },
      { baseDir: join(root, 'examples/compat/fixtures') },
    );
    expect(result.failure ?? result.error).toBeUndefined();
    expect(result.ok).toBe(true);
  });
});
