/** What running a fixture produced: pass, a failed expectation, or a fixture that could not run. */
import type { LogRecord } from '../log.ts';
import type { SourcePos } from './errors.ts';

export interface TranscriptLine {
  /** The session's label in the fixture ("s1", or the name it was opened with). */
  readonly session: string;
  /** Virtual time, epoch ms. */
  readonly at: number;
  readonly text: string;
}

/** An expectation the policy did not meet. */
export interface FixtureFailure {
  /** "step 4 (session from 192.0.2.7): rcpt" */
  readonly step: string;
  readonly at: SourcePos;
  readonly expected: string;
  readonly got: string;
  /** What the sessions involved said, oldest first ("10:00:00 s1  C: EHLO …"). */
  readonly transcript: readonly string[];
}

/** A fixture that could not be run as written (syntax, schema, address, policy load, impossible step). */
export interface FixtureRunError {
  readonly code: string;
  readonly message: string;
  readonly file?: string;
  readonly line?: number;
}

export interface FixtureStats {
  readonly steps: number;
  readonly sessions: number;
  readonly checks: number;
  /** Virtual time the fixture covered. */
  readonly virtualMs: number;
  /** Real time it took (informational; never part of a pass/fail decision). */
  readonly elapsedMs: number;
}

export interface FixtureResult {
  readonly file: string;
  readonly name: string;
  readonly ok: boolean;
  readonly failure?: FixtureFailure;
  readonly error?: FixtureRunError;
  readonly stats: FixtureStats;
  /** Everything the engine and the scripts logged, as parsed pino records. */
  readonly logs: readonly LogRecord[];
}
