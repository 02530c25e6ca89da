import { MoonwatchError } from '../errors.ts';

/** Where in a script a token or node starts (1-based line and column). */
export interface SievePos {
  readonly line: number;
  readonly col: number;
}

/**
 * A Sieve script that cannot be loaded: a syntax error, an unknown command, a
 * wrong argument count or a bad option value. Raised while a generation is
 * built, so a broken save keeps the live generation. The message starts with
 * file:line:col.
 */
export class SieveParseError extends MoonwatchError {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly detail: string;

  constructor(file: string, pos: SievePos, detail: string) {
    super('MW_ERR_SIEVE_PARSE', `${file}:${pos.line}:${pos.col}: ${detail}`);
    this.file = file;
    this.line = pos.line;
    this.col = pos.col;
    this.detail = detail;
  }
}

/**
 * A Sieve command failed while a session ran it (an out-of-range monitor
 * index, an unparsable address, a missing peer). Handled per runtime_error:
 * `fail` turns it into the configured failure verdict, `continue` skips the
 * command and carries on.
 */
export class SieveRuntimeError extends MoonwatchError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MW_ERR_SIEVE_RUNTIME', message, options);
  }
}
