import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';

const readme = readFileSync('README.md', 'utf8');

/** The fenced block of `lang` that follows `heading`. */
function blockAfter(heading: string, lang: string): string {
  const at = readme.indexOf(heading);
  expect(at, `README has "${heading}"`).toBeGreaterThanOrEqual(0);
  const open = readme.indexOf('```' + lang + '\n', at);
  const close = readme.indexOf('\n```', open + 4);
  return readme.slice(open + lang.length + 4, close + 1);
}

describe('README', () => {
  it('starts with the install-and-run and install-and-test commands that CI runs', () => {
    const first = blockAfter('# moonwatch', 'sh').split('\n').filter(Boolean);
    expect(first[0]).toMatch(/^npm ci && npm start\b/);
    const testCommand = first[1]!.replace(/\s+#.*$/, '');
    expect(testCommand).toBe('sh scripts/test-deps.sh && npm ci && npm test');
    // CI runs exactly the README's test command, so a missing install step fails there first.
    expect(readFileSync('.ci/run', 'utf8')).toContain(testCommand);
  });

  it('shows a configuration that loads and matches the example npm start serves', () => {
    const text = blockAfter('## Configuration', 'yaml');
    const shown = parseConfig(text, resolve('examples/moonwatch.yaml'));
    const example = parseConfig(readFileSync('examples/moonwatch.yaml', 'utf8'), resolve('examples/moonwatch.yaml'));
    const { file: _a, ...a } = shown;
    const { file: _b, ...b } = example;
    expect(a).toEqual(b);
  });

  it('shows the fixture file it names, verbatim', () => {
    const text = blockAfter('## Testing policies: fixtures', 'yaml');
    const [nameLine, ...rest] = text.split('\n');
    const path = nameLine!.replace(/^# /, '');
    expect(rest.join('\n')).toBe(readFileSync(path, 'utf8'));
  });
});
