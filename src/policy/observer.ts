/**
 * What the policy layer tells an observer (the metrics of `moonwatch serve`)
 * about each phase it runs. Optional and synchronous: a session calls it once
 * per phase with values it already has, so a server without metrics pays one
 * undefined check.
 */
import type { PhaseName, PhaseSpec } from './phases.ts';
import type { Verdict } from './verdict.ts';

export interface PolicyObserver {
  /** A phase ran: its verdict, the module that set the reply (or faulted), and how long the scripts took. */
  phase(phase: PhaseSpec, verdict: Verdict, module: string | undefined, durationMs: number): void;
  /** A script faulted (runtime error or budget) in a phase. */
  fault(phase: PhaseName, module: string): void;
}
