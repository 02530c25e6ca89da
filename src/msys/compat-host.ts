import type { AsyncCalls } from '../lua/async-call.ts';
import type { CompatServices } from './compat-services.ts';
import type { SessionObjects } from './session-objects.ts';

/** The callout running now: set by the generation around every resume. */
export interface RunningCallout {
  readonly objects: SessionObjects;
  /** Phase name from policy/phases.ts ('rcptto', 'data', 'rcpt_list_final', ...); the session's next phase changes it. */
  phase: string;
  /** Fire-and-forget runInPool jobs (registry refs of functions) to start when the phase ends. */
  readonly deferred: number[];
}

/** What the compatibility packages share within one generation. */
export interface CompatHost {
  readonly services: CompatServices;
  readonly calls: AsyncCalls;
  current: RunningCallout | null;
}
