/**
 * `policy.sieve` in a fixture: the same shape as `scripts.sieve` in the
 * config (docs/sieve.md), so a fixture can run Sieve scripts from a scripts
 * directory, alone or beside Lua modules.
 */
import { SIEVE_PHASE_KEYS, sievePhase, type SievePhase, type SieveScriptsOptions } from '../sieve/config.ts';
import type { YNode } from './yaml-reader.ts';

export function readFixtureSieve(node: YNode): SieveScriptsOptions {
  const m = node.map('policy.sieve', [...SIEVE_PHASE_KEYS, 'runtime_error']);
  const phases: Partial<Record<SievePhase, string[]>> = {};
  for (const key of SIEVE_PHASE_KEYS) {
    const n = m.get(key);
    if (n === undefined) continue;
    const list = (phases[sievePhase(key)!] ??= []);
    for (const item of n.list(`policy.sieve.${key}`)) {
      const file = item.string('a .siv file');
      if (!file.endsWith('.siv')) item.fail(`"${file}": a Sieve script file name ends in .siv`);
      list.push(file);
    }
  }
  const mode = m.get('runtime_error')?.oneOf('policy.sieve.runtime_error', ['fail', 'continue'] as const) ?? 'fail';
  return { phases, runtimeError: mode };
}
