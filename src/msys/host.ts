import type { AuditStore } from '../audit/store.ts';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { AuditReadLog } from './audit-reads.ts';
import type { SessionState } from './session-state.ts';

/** One `msys.registerModule(name, table)` call, kept as a registry reference into the VM. */
export interface Registration {
  readonly name: string;
  /** Registry ref of the module table. */
  readonly ref: number;
  /** Keys of the table that are functions, as registered. */
  readonly methods: readonly string[];
}

/**
 * What the msys modules need from their host: the store, the clock, and which
 * session the running callout belongs to. One per script generation.
 */
export interface MsysHost {
  readonly store: AuditStore;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The session the current callout runs for; null in init/deinit. */
  session: SessionState | null;
  /** Called by msys.registerModule. */
  register(reg: Registration): void;
  /** Logs a warning the first time `key` is seen in this process' host. */
  warnOnce(key: string, message: string): void;
  readonly compatConnectionAlias: boolean;
  /** Where audit reads of the running phase are noted, to explain a decision; absent: not noted. */
  readonly reads?: AuditReadLog;
}
