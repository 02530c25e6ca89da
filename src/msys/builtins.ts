import type { SourceReader } from '../lua/sources.ts';
import { modulePathToFile } from '../lua/sources.ts';

/**
 * Momentum's built-in packages, and which of them moonwatch provides. A
 * script that requires one moonwatch lacks gets that said plainly, and a
 * generation reports every such require of every script at once (rather than
 * stopping at the first), so an operator sees the whole gap in one go.
 */

/** Provided packages (preloaded: require returns the table). */
export const PROVIDED_BUILTINS: readonly string[] = [
  'msys',
  'msys.core',
  'msys.audit',
  'msys.audit_series',
  'msys.extended',
  'msys.extended.vctx',
  'msys.extended.ac',
  'msys.extended.message',
  'msys.extended.message_routing',
  'msys.cidr',
  'msys.pbp',
  'msys.dumper',
  'msys.pcre',
  'msys.policyeditor',
  'thread',
];

/** Momentum built-ins outside the msys.* namespace that moonwatch does not provide. */
const OTHER_MOMENTUM_BUILTINS = new Set(['ecxs', 'json', 'xml', 'socket']);

/** Whether `name` is a Momentum built-in (any msys.* package, or a known other one). */
export function isMomentumBuiltin(name: string): boolean {
  return name === 'msys' || name.startsWith('msys.') || OTHER_MOMENTUM_BUILTINS.has(name) || PROVIDED_BUILTINS.includes(name);
}

export function missingBuiltinMessage(name: string): string {
  return `${name} is a Momentum built-in that moonwatch does not provide`;
}

export interface MissingBuiltin {
  readonly name: string;
  /** Script file that requires it. */
  readonly file: string;
  readonly line: number;
}

const REQUIRE = /\brequire\s*\(?\s*(["'])([A-Za-z0-9_.\/-]+)\1/g;

/**
 * Every require of a Momentum built-in moonwatch lacks, in the configured
 * scripts and the user modules they require (found by reading their text;
 * a require built at run time from a variable is caught when it runs).
 */
export function findMissingBuiltins(sources: SourceReader, modules: readonly string[]): MissingBuiltin[] {
  const out: MissingBuiltin[] = [];
  const seen = new Set<string>();
  const queue = [...modules];
  while (queue.length > 0) {
    const mod = queue.shift()!;
    let file: string;
    let text: string | undefined;
    try {
      file = modulePathToFile(mod);
      if (seen.has(file)) continue;
      seen.add(file);
      text = sources(file);
    } catch {
      continue; // require itself reports a bad name or an unreadable file
    }
    if (text === undefined) continue;
    const lines = text.split('\n');
    lines.forEach((line, i) => {
      const code = line.replace(/--.*$/, '');
      for (const m of code.matchAll(REQUIRE)) {
        const name = m[2]!;
        if (PROVIDED_BUILTINS.includes(name)) continue;
        if (isMomentumBuiltin(name)) out.push({ name, file, line: i + 1 });
        else queue.push(name);
      }
    });
  }
  return out;
}
