import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { runFixtureFile } from '../../src/harness/runner.ts';
import { COMMANDS } from '../../src/sieve/commands.ts';

const readme = readFileSync('README.md', 'utf8');
const section = readme.slice(readme.indexOf('## Sieve\n'), readme.indexOf('\n## ', readme.indexOf('## Sieve\n') + 5));

/** Each fenced block of the Sieve section whose first line names a file: [path, the rest]. */
function namedBlocks(): [string, string][] {
  const out: [string, string][] = [];
  for (const m of section.matchAll(/```(?:yaml|sieve)\n# (\S+)\n([\s\S]*?)```/g)) out.push([m[1]!, m[2]!]);
  return out;
}

describe('README ## Sieve', () => {
  it('shows the example config, script and fixture verbatim', () => {
    const blocks = namedBlocks();
    expect(blocks.map(([p]) => p)).toEqual(['examples/sieve.yaml', 'examples/policies/sieve/guard.siv', 'examples/fixtures/sieve/guard.yaml']);
    for (const [path, text] of blocks) {
      const file = readFileSync(path, 'utf8');
      // The config and script blocks drop the file's own first line only when it is the name comment.
      expect(file.endsWith(text), path).toBe(true);
    }
  });

  it('the example config loads with the Sieve script configured for connect', () => {
    const cfg = parseConfig(readFileSync('examples/sieve.yaml', 'utf8'), resolve('examples/sieve.yaml'));
    expect(cfg.scripts.sieve).toEqual({ phases: { connect: ['sieve/guard.siv'] }, runtimeError: 'fail' });
  });

  it('the example fixture passes', async () => {
    const r = await runFixtureFile(resolve('examples/fixtures/sieve/guard.yaml'));
    expect(r.failure).toBeUndefined();
    expect(r.ok).toBe(true);
  });
});

describe('docs/sieve.md', () => {
  const doc = readFileSync('docs/sieve.md', 'utf8');
  it('lists every command the checker accepts', () => {
    for (const name of Object.keys(COMMANDS)) expect(doc, name).toContain(`\`${name}\``);
  });

  it('says what is not supported', () => {
    expect(doc).toContain("## What of Momentum's Sieve is not supported");
  });
});
