/** Which files `moonwatch test a b c` means: files as given, directories searched for *.yaml / *.yml. */
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MoonwatchError } from '../errors.ts';

export class FixturePathError extends MoonwatchError {
  constructor(readonly path: string, problem: string) {
    super('MW_ERR_FIXTURE_PATH', `${path}: ${problem}`);
  }
}

export const FIXTURE_EXTENSIONS = ['.yaml', '.yml'];

export function isFixturePath(path: string): boolean {
  return FIXTURE_EXTENSIONS.some((e) => path.endsWith(e));
}

/** Absolute paths, sorted within each directory, without duplicates. Relative paths resolve against `cwd`. */
export function discoverFixtures(paths: readonly string[], cwd = process.cwd()): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const add = (p: string): void => {
    if (!seen.has(p)) {
      seen.add(p);
      out.push(p);
    }
  };
  for (const given of paths) {
    const abs = resolve(cwd, given);
    let st;
    try {
      st = statSync(abs);
    } catch {
      throw new FixturePathError(given, 'no such file or directory');
    }
    if (st.isDirectory()) walk(abs).forEach(add);
    else add(abs);
  }
  return out;
}

function walk(dir: string): string[] {
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
  const out: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.') || e.name === 'node_modules') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile() && isFixturePath(e.name)) out.push(p);
  }
  return out;
}
