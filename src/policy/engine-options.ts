import type { AuditStore } from '../audit/store.ts';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { Budget } from '../lua/vm.ts';
import type { SourceReader } from '../lua/sources.ts';
import type { SieveScriptsOptions } from '../sieve/config.ts';
import type { PolicyObserver } from './observer.ts';
import type { CompatServices } from '../msys/compat-services.ts';

/** What a script fault (runtime error, budget) turns into. Default: tempfail 451 4.3.0. */
export interface FailureMode {
  readonly action: 'tempfail' | 'reject' | 'disconnect';
  readonly code: number;
  readonly enhanced: string;
  readonly text: string;
}

export const DEFAULT_FAILURE_MODE: FailureMode = Object.freeze({
  action: 'tempfail',
  code: 451,
  enhanced: '4.3.0',
  text: 'Temporary policy failure, please try again later',
});

export interface ScriptsOptions {
  /** Absolute path of the scripts directory (the Lua module root). */
  readonly dir: string;
  /** Script sources in execution order, module paths relative to dir ("inbound.limits" or "inbound/limits"). */
  readonly modules: readonly string[];
  readonly allowIo?: boolean;
  /** Opt-in alias msys.audit.connection → connections (spec lua-policy-api §14). */
  readonly compatConnectionAlias?: boolean;
  /** Debounce for the file watcher, ms. */
  readonly reloadDebounceMs?: number;
  /** Sieve scripts (.siv, relative to dir) per phase; they run after the phase's Lua modules. */
  readonly sieve?: SieveScriptsOptions;
}

export interface EngineOptions {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly store: AuditStore;
  readonly scripts: ScriptsOptions;
  readonly budget: Budget;
  readonly failureMode?: FailureMode;
  /** Receptions counted per recipient (default, spec §3) or per DATA transaction. */
  readonly receptionUnit?: 'recipient' | 'message';
  /** Used in replies such as `421 <hostname> ...`. */
  readonly hostname?: string;
  /** Where script sources are read from; defaults to the files under scripts.dir. */
  readonly sources?: SourceReader;
  /** Told about every phase and fault (the metrics of `moonwatch serve`). */
  readonly observer?: PolicyObserver;
  /** What one script generation may retain across sessions; past it the generation is rebuilt. Default 16 MiB. */
  readonly maxRetainedBytes?: number;
  /** DNS, sleep, phase time limit and inject sink for the Momentum compatibility packages (docs/compat.md). */
  readonly compat?: CompatServices;
}
