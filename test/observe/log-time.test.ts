/**
 * `moonwatch serve` logs `time` as ISO-8601 (src/log.ts isoTimestamp): the same
 * text as pino's isoTime, with the part up to the second made once a second.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { isoTimestamp } from '../../src/log.ts';

/** pino's own field for the instant `ms`. */
function pinoText(ms: number): string {
  const realNow = Date.now;
  Date.now = () => ms;
  try {
    return pino.stdTimeFunctions.isoTime();
  } finally {
    Date.now = realNow;
  }
}

describe('the log time field', () => {
  it('is the text pino writes, for every millisecond width and across second, day and year boundaries', () => {
    const instants = [
      Date.UTC(2026, 11, 6, 11, 42, 14, 0),
      Date.UTC(2026, 11, 6, 11, 42, 14, 7),
      Date.UTC(2026, 11, 6, 11, 42, 14, 42),
      Date.UTC(2026, 11, 6, 11, 42, 14, 999),
      Date.UTC(2026, 11, 6, 11, 42, 15, 1),
      Date.UTC(2026, 11, 6, 23, 59, 59, 999),
      Date.UTC(2026, 11, 7, 0, 0, 0, 0),
      Date.UTC(2026, 11, 31, 23, 59, 59, 500),
      Date.UTC(2027, 0, 1, 0, 0, 0, 5),
    ];
    let now = 0;
    const field = isoTimestamp(() => now);
    for (const ms of instants) {
      now = ms;
      expect(field()).toBe(pinoText(ms));
    }
    // Back in time (a clock step): the second is made again, not reused.
    now = instants[0]!;
    expect(field()).toBe(',"time":"2026-12-06T11:42:14.000Z"');
  });

  it('gives each line of one second its own milliseconds', () => {
    let now = Date.UTC(2026, 11, 6, 11, 42, 14, 998);
    const field = isoTimestamp(() => now);
    expect(field()).toBe(',"time":"2026-12-06T11:42:14.998Z"');
    now += 1;
    expect(field()).toBe(',"time":"2026-12-06T11:42:14.999Z"');
    now += 1;
    expect(field()).toBe(',"time":"2026-12-06T11:42:15.000Z"');
  });
});
