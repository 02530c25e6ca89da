/**
 * The only place real time is read. Everything that needs "now" takes a Clock,
 * so the fixture harness can run a day of traffic on a ManualClock in milliseconds.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export class SystemClock implements Clock {
  now(): number {
    return Date.now();
  }
}

/** A clock that moves only when told to; it may also be stepped backwards to test clock steps. */
export class ManualClock implements Clock {
  private ms: number;

  constructor(startMs = 0) {
    this.ms = startMs;
  }

  now(): number {
    return this.ms;
  }

  set(ms: number): void {
    this.ms = ms;
  }

  advance(ms: number): void {
    this.ms += ms;
  }
}

/**
 * Monotonic milliseconds for measuring elapsed real time (script budgets,
 * durations in logs). Never used for counters: those follow the injected Clock.
 */
export function monotonicMs(): number {
  return performance.now();
}
