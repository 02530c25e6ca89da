/** What the step runners of one fixture share. */
import type { AuditStore } from '../audit/store.ts';
import type { ManualClock } from '../clock.ts';
import type { LogRecord } from '../log.ts';
import type { PolicyEngine } from '../policy/session-api.ts';
import type { SourcePos } from './errors.ts';
import type { Fixture } from './fixture.ts';
import type { SessionFront } from './session-driver.ts';
import type { FixtureFailure, TranscriptLine } from './result.ts';

export interface RunContext {
  readonly fixture: Fixture;
  readonly store: AuditStore;
  readonly engine: PolicyEngine;
  /** Only ever moves forward: the store's windows only rotate forward, as in real time. */
  readonly clock: ManualClock;
  readonly hostname: string;
  /** Where sessions are opened: the in-process driver, or (parity test) the real listener. */
  readonly front: SessionFront;
  readonly records: readonly LogRecord[];
  /** Messages the sink accepted (counted, not kept: bulk traffic delivers a lot). */
  delivered: number;
  readonly transcript: TranscriptLine[];
  sessionsRun: number;
  checksRun: number;
}

/** Thrown by a step whose expectation was not met; the runner turns it into the result's failure. */
export class StepFailure extends Error {
  constructor(readonly failure: FixtureFailure) {
    super(`${failure.step}: expected ${failure.expected}, got ${failure.got}`);
  }
}

export function failStep(
  ctx: RunContext,
  step: string,
  at: SourcePos,
  expected: string,
  got: string,
  sessions?: readonly string[],
): never {
  throw new StepFailure({ step, at, expected, got, transcript: transcriptFor(ctx, sessions) });
}

const MAX_TRANSCRIPT = 60;

/** The involved sessions' lines (all sessions when none are named), the most recent ones. */
export function transcriptFor(ctx: RunContext, sessions?: readonly string[]): string[] {
  const lines = sessions === undefined ? ctx.transcript : ctx.transcript.filter((l) => sessions.includes(l.session));
  const shown = lines.slice(-MAX_TRANSCRIPT);
  const out = shown.map((l) => `${new Date(l.at).toISOString().slice(11, 19)} ${l.session.padEnd(4)} ${l.text}`);
  if (lines.length > shown.length) out.unshift(`(${lines.length - shown.length} earlier lines not shown)`);
  return out;
}
