/**
 * `scripts.sieve`: which .siv files run in which phase (docs/sieve.md).
 *
 *   sieve:
 *     connect: [limits.siv]          # or Momentum's name: connect_phase1
 *     rcptto: [dha.siv, rcpt.siv]
 *     runtime_error: fail            # or continue
 */
import { SIEVE_PHASE_KEYS, sievePhase, type SievePhase, type SieveScriptsOptions } from '../sieve/config.ts';
import type { ConfigNode } from './reader.ts';

export function readSieve(node: ConfigNode): SieveScriptsOptions {
  const m = node.map([...SIEVE_PHASE_KEYS, 'runtime_error']);
  const phases: Partial<Record<SievePhase, string[]>> = {};
  for (const key of SIEVE_PHASE_KEYS) {
    if (!m.has(key)) continue;
    const phase = sievePhase(key)!;
    const list = (phases[phase] ??= []);
    for (const { value, node: item } of m.get(key).stringList()) {
      if (!/\.siv$/.test(value)) item.fail(`"${value}": a Sieve script file name ends in .siv`);
      if (!/^[A-Za-z0-9_][A-Za-z0-9_./-]*$/.test(value) || value.split('/').includes('..')) {
        item.fail(`"${value}" is not a file path under scripts.dir (letters, digits, _ - . /)`);
      }
      if (list.includes(value)) item.fail(`"${value}" is listed twice for the ${phase} phase`);
      list.push(value);
    }
  }
  return { phases, runtimeError: m.opt('runtime_error', 'fail', (n) => n.oneOf(['fail', 'continue'] as const)) };
}
