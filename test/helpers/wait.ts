/**
 * Waiting on observable state instead of sleeping: the condition is polled
 * until it holds, and only a generous overall timeout (a hung test, not a slow
 * machine) makes it fail. Polling yields to the event loop each time.
 */
import { monotonicMs } from '../../src/clock.ts';

export async function waitUntil(cond: () => boolean, what: string, timeoutMs = 15_000, everyMs = 10): Promise<void> {
  const until = monotonicMs() + timeoutMs;
  while (!cond()) {
    if (monotonicMs() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
