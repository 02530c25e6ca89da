/**
 * Which fixture files `moonwatch test` runs. Files named on the command line
 * are always run (a broken one must fail loudly). YAML found by searching a
 * directory is run only if it looks like a fixture: a mapping with `steps:`.
 * Anything else there (a config kept beside its fixtures) is skipped and
 * named, not reported as a broken fixture. --name keeps the fixtures whose
 * name or path contains the text.
 */
import { readFileSync, statSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { discoverFixtures } from '../harness/discover.ts';

export interface Skipped {
  readonly file: string;
  readonly why: string;
}

export function selectFixtures(targets: readonly string[], cwd: string, filter?: string): { files: string[]; skipped: Skipped[] } {
  const files: string[] = [];
  const skipped: Skipped[] = [];
  const needle = filter?.toLowerCase();
  for (const target of targets) {
    const found = discoverFixtures([target], cwd);
    const fromDir = statSync(resolve(cwd, target)).isDirectory();
    for (const file of found) {
      if (files.includes(file)) continue;
      const peek = fromDir || needle !== undefined ? peekFixture(file) : { fixture: true as const };
      if (fromDir && !peek.fixture) {
        skipped.push({ file, why: peek.why });
        continue;
      }
      if (needle !== undefined) {
        const name = 'name' in peek ? peek.name : undefined;
        const hay = `${name ?? ''}\n${relative(cwd, file)}`.toLowerCase();
        if (!hay.includes(needle)) continue;
      }
      files.push(file);
    }
  }
  return { files, skipped };
}

type Peek = { fixture: true; name?: string } | { fixture: false; why: string };

function peekFixture(file: string): Peek {
  let doc;
  try {
    doc = parseDocument(readFileSync(file, 'utf8'));
  } catch {
    // Unreadable or not YAML at all: let the runner report it with its position.
    return { fixture: true };
  }
  if (doc.errors.length > 0) return { fixture: true };
  const v = doc.toJS() as unknown;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return { fixture: false, why: 'not a fixture: not a YAML mapping' };
  const m = v as Record<string, unknown>;
  if (!('steps' in m)) {
    const looksLikeConfig = 'listen' in m || 'scripts' in m;
    return { fixture: false, why: looksLikeConfig ? 'not a fixture: a moonwatch config' : 'not a fixture: no "steps:"' };
  }
  return typeof m.name === 'string' ? { fixture: true, name: m.name } : { fixture: true };
}
