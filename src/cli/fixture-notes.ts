/**
 * What a fixture's scripts said while it ran, for the output of a fixture
 * that failed: each script fault as "script:line: message" with the phase and
 * module, and every line the scripts print()ed, in order.
 */
import { LEVELS } from '../log.ts';
import type { FixtureResult } from '../harness/result.ts';

export function fixtureNotes(r: FixtureResult): string[] {
  const out: string[] = [];
  for (const l of r.logs) {
    if (l.script_print === true) {
      out.push(`print: ${l.msg}`);
      continue;
    }
    const isFault = typeof l.code === 'string' && l.code.startsWith('MW_ERR_SCRIPT') && l.level >= LEVELS.error;
    if (isFault) {
      const where = typeof l.script === 'string' ? `${l.script}${typeof l.line === 'number' ? `:${l.line}` : ''}: ` : '';
      const module = typeof l.module === 'string' ? ` (module ${l.module}, phase ${String(l.phase)})` : '';
      out.push(`script fault: ${where}${l.msg}${module}`);
    }
  }
  return out;
}
