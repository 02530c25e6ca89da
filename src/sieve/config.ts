import type { RuntimeErrorMode } from './evaluator.ts';

/**
 * The phases a Sieve script can be configured for: the policy layer's phase
 * names (policy/phases.ts, which sits above this layer; a test keeps the two
 * in step), except dealloc, which has nothing to decide.
 */
export const SIEVE_PHASES = ['accept', 'connect', 'ehlo', 'mailfrom', 'rcptto', 'data', 'data_spool', 'each_rcpt'] as const;
export type SievePhase = (typeof SIEVE_PHASES)[number];

/** Momentum's names for the same phases, accepted as aliases in the config. */
const MOMENTUM_NAMES: Readonly<Record<string, SievePhase>> = {
  accept_phase1: 'accept',
  connect_phase1: 'connect',
  ehlo_phase1: 'ehlo',
  mailfrom_phase1: 'mailfrom',
  rcptto_phase1: 'rcptto',
  data_phase1: 'data',
  spool_phase1: 'data_spool',
  each_rcpt_phase1: 'each_rcpt',
};

export const SIEVE_PHASE_KEYS: readonly string[] = [...SIEVE_PHASES, ...Object.keys(MOMENTUM_NAMES)];

export function sievePhase(key: string): SievePhase | undefined {
  if ((SIEVE_PHASES as readonly string[]).includes(key)) return key as SievePhase;
  return MOMENTUM_NAMES[key];
}

/** `scripts.sieve` in the config: .siv files (relative to scripts.dir) per phase, run in list order. */
export interface SieveScriptsOptions {
  readonly phases: Readonly<Partial<Record<SievePhase, readonly string[]>>>;
  /** `fail` (default): a failing command faults the phase like a Lua error; `continue`: log it and carry on. */
  readonly runtimeError: RuntimeErrorMode;
}

/** Every .siv file the options name, once each, for snapshots and hashing. */
export function sieveFiles(opts: SieveScriptsOptions | undefined): string[] {
  if (opts === undefined) return [];
  return [...new Set(Object.values(opts.phases).flatMap((files) => files ?? []))];
}
