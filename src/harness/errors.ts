import { MoonwatchError } from '../errors.ts';

/** Where in a fixture file something was written. Lines and columns are 1-based. */
export interface SourcePos {
  readonly file: string;
  readonly line?: number;
  readonly col?: number;
}

export function formatPos(pos: SourcePos): string {
  if (pos.line === undefined) return pos.file;
  return pos.col === undefined ? `${pos.file}:${pos.line}` : `${pos.file}:${pos.line}:${pos.col}`;
}

/**
 * A fixture that cannot be run as written. The message always starts with
 * "file:line:col:" so an editor can jump to the spot; `file`/`line`/`col` carry
 * the same for callers that want them separately.
 */
export class FixtureError extends MoonwatchError {
  readonly file: string;
  readonly line: number | undefined;
  readonly col: number | undefined;
  /** The problem without the position prefix. */
  readonly problem: string;

  constructor(code: string, pos: SourcePos, problem: string, options?: { cause?: unknown }) {
    super(code, `${formatPos(pos)}: ${problem}`, options);
    this.file = pos.file;
    this.line = pos.line;
    this.col = pos.col;
    this.problem = problem;
  }
}

/** Not YAML at all (or a YAML error such as a duplicate key). */
export class FixtureSyntaxError extends FixtureError {
  constructor(pos: SourcePos, problem: string, options?: { cause?: unknown }) {
    super('MW_ERR_FIXTURE_SYNTAX', pos, problem, options);
  }
}

/** Valid YAML that is not a fixture: unknown step or key, wrong type, missing field. */
export class FixtureSchemaError extends FixtureError {
  constructor(pos: SourcePos, problem: string, options?: { cause?: unknown }) {
    super('MW_ERR_FIXTURE_SCHEMA', pos, problem, options);
  }
}

/** An address or CIDR the store's parser refuses. */
export class FixtureAddressError extends FixtureError {
  constructor(pos: SourcePos, problem: string, options?: { cause?: unknown }) {
    super('MW_ERR_FIXTURE_ADDRESS', pos, problem, options);
  }
}

/** The policy a fixture names cannot be built (missing config, script that does not load). */
export class FixturePolicyError extends FixtureError {
  constructor(pos: SourcePos, problem: string, options?: { cause?: unknown }) {
    super('MW_ERR_FIXTURE_POLICY', pos, problem, options);
  }
}

/** A well-formed step that cannot be carried out (seed into an undefined series, time going backwards). */
export class FixtureStepError extends FixtureError {
  constructor(pos: SourcePos, problem: string, options?: { cause?: unknown }) {
    super('MW_ERR_FIXTURE_STEP', pos, problem, options);
  }
}

/** The fixture file itself cannot be read. */
export class FixtureReadError extends FixtureError {
  constructor(pos: SourcePos, problem: string, options?: { cause?: unknown }) {
    super('MW_ERR_FIXTURE_READ', pos, problem, options);
  }
}
