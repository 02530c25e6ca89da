import { BadCountError } from './errors.ts';

/**
 * startv/endv as Momentum takes them (inbound-audit spec §4.3 [REC]): fractions
 * are floored, negatives read as 0, both are clamped to the last visible window
 * and reversed bounds are swapped. NaN is refused rather than guessed at: it is
 * always a script bug (0/0, a failed tonumber), and a silent 0 would hide it.
 */
export function windowRange(startv: unknown, endv: unknown, windows: number): [number, number] {
  const s = bound(startv, 'startv', windows);
  const e = bound(endv, 'endv', windows);
  return e < s ? [e, s] : [s, e];
}

function bound(v: unknown, name: string, windows: number): number {
  if (typeof v !== 'number') throw new BadCountError(`${name} must be a number, got ${typeof v}`);
  if (Number.isNaN(v)) throw new BadCountError(`${name} is NaN: give a window number from 0 to ${windows - 1}`);
  const f = Math.floor(v);
  if (f <= 0) return 0;
  return f > windows - 1 ? windows - 1 : f;
}
