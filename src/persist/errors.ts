import { MoonwatchError } from '../errors.ts';

/** A state file that cannot be trusted: truncated, altered, empty or not ours. */
export class CorruptStateError extends MoonwatchError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MW_ERR_STATE_CORRUPT', message, options);
  }
}

/** A well-formed state file written by another format version. */
export class StateVersionError extends MoonwatchError {
  constructor(message: string) {
    super('MW_ERR_STATE_VERSION', message);
  }
}

/** A saved series whose shape (type, interval, windows) differs from its definition. */
export class StateShapeError extends MoonwatchError {
  constructor(message: string) {
    super('MW_ERR_STATE_SHAPE', message);
  }
}

/** `serve --strict` refuses to start over a state file it had to set aside. */
export class StrictStartError extends MoonwatchError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MW_ERR_STATE_STRICT', message, options);
  }
}

/** A console `load` file name that would leave serialize_dir. */
export class LoadPathError extends MoonwatchError {
  constructor(message: string) {
    super('MW_ERR_LOAD_PATH', message);
  }
}
