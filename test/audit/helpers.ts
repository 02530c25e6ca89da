import { AuditStore, type AuditStoreOptions } from '../../src/audit/store.ts';
import { ManualClock } from '../../src/clock.ts';
import { captureLogger, LEVELS, type LogRecord } from '../../src/log.ts';
import { isMoonwatchError } from '../../src/errors.ts';

/** 2024-01-01T10:00:00Z: aligned to every window length used in the tests. */
export const T0 = Date.UTC(2024, 0, 1, 10, 0, 0);

export function makeStore(opts: Partial<AuditStoreOptions> = {}, startMs = T0) {
  const clock = new ManualClock(startMs);
  const { logger, records } = captureLogger('debug');
  const store = new AuditStore({ clock, logger, monitors: ['300,6', '1800,4'], ...opts });
  return { store, clock, records };
}

export function warnings(records: LogRecord[]): string[] {
  return records.filter((r) => r.level === LEVELS.warn).map((r) => r.msg);
}

export function errorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isMoonwatchError(err)) return err.code;
    throw err;
  }
  throw new Error('expected a MoonwatchError, nothing was thrown');
}
