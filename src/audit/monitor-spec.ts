import { BadMonitorError } from './errors.ts';

/**
 * The "W,N" grammar of a monitor (inbound-audit spec §2.2 [REC]): two positive
 * integers, optional whitespace around each; "300, 6" is "300,6".
 */
export interface MonitorSpec {
  /** Window length in seconds. */
  readonly width: number;
  readonly windows: number;
  /** "W,N" without spaces: the name the store files the monitor under. */
  readonly canonical: string;
}

/** Ten years: long enough for any policy, short enough that epochs stay exact. */
export const MAX_WINDOW_SECONDS = 10 * 366 * 86400;
/** Each window is one bucket; thousands would only ever be a typo. */
export const MAX_WINDOWS = 10_000;

const GRAMMAR = /^\s*(\d{1,12})\s*,\s*(\d{1,12})\s*$/;

export function parseMonitor(text: unknown): MonitorSpec {
  if (typeof text !== 'string') {
    throw new BadMonitorError(`a monitor must be a string like "300,6", got ${typeof text}`);
  }
  const m = GRAMMAR.exec(text);
  const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text;
  if (m === null) {
    throw new BadMonitorError(`invalid monitor "${shown}": expected "<window-seconds>,<number-of-windows>" with two positive integers, e.g. "300,6"`);
  }
  const width = Number(m[1]);
  const windows = Number(m[2]);
  checkShape(width, windows, `monitor "${shown}"`, (msg) => new BadMonitorError(msg));
  return { width, windows, canonical: `${width},${windows}` };
}

/** Shared by monitors and series: window length and count must be sane positive integers. */
export function checkShape(width: number, windows: number, what: string, fail: (message: string) => Error): void {
  if (!Number.isInteger(width) || width <= 0 || width > MAX_WINDOW_SECONDS) {
    throw fail(`invalid ${what}: the window length must be a whole number of seconds from 1 to ${MAX_WINDOW_SECONDS}, got ${width}`);
  }
  if (!Number.isInteger(windows) || windows <= 0 || windows > MAX_WINDOWS) {
    throw fail(`invalid ${what}: the number of windows must be a whole number from 1 to ${MAX_WINDOWS}, got ${windows}`);
  }
}
