/**
 * One base class with a stable `code` (MW_ERR_*). Each area declares its own
 * subclasses next to the code that throws them; tests assert on `code`, never on
 * message text, so messages can improve without breaking callers.
 */
export class MoonwatchError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

export function isMoonwatchError(err: unknown, code?: string): err is MoonwatchError {
  return err instanceof MoonwatchError && (code === undefined || err.code === code);
}

/** The message of anything thrown, for log lines and Lua error strings. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
