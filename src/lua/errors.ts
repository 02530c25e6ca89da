import { MoonwatchError, errorMessage } from '../errors.ts';
import { limitOf, type BudgetLimit } from './budget.ts';

export type ScriptFaultKind = 'runtime' | 'budget' | 'load';

const FAULT_CODES: Readonly<Record<ScriptFaultKind, string>> = Object.freeze({
  runtime: 'MW_ERR_SCRIPT_RUNTIME',
  budget: 'MW_ERR_SCRIPT_BUDGET',
  load: 'MW_ERR_SCRIPT_LOAD',
});

export interface ScriptFaultOptions {
  cause?: unknown;
  /** Lua stack traceback at the point of the error, when one was captured. */
  traceback?: string;
  /** Where the fault lies when that is not the first position in the message (a nested load error). */
  position?: { script: string; line: number } | undefined;
}

/**
 * A script failed: it would not compile or was not found ('load'), raised an
 * error ('runtime'), or ran out of instructions, time or string space ('budget').
 * The host never crashes on one of these; the policy layer turns it into the
 * configured failure reply and logs script:line.
 */
export class ScriptFault extends MoonwatchError {
  readonly kind: ScriptFaultKind;
  readonly script?: string;
  readonly line?: number;
  readonly luaMessage: string;
  readonly traceback?: string;
  /** For a budget fault or a string-size cap: which limit stopped the script (logged as `limit`). */
  readonly limit?: BudgetLimit;

  constructor(kind: ScriptFaultKind, luaMessage: string, options: ScriptFaultOptions = {}) {
    super(FAULT_CODES[kind], luaMessage, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.luaMessage = luaMessage;
    const where = options.position ?? parseLuaPosition(luaMessage);
    if (where !== undefined) {
      this.script = where.script;
      this.line = where.line;
    }
    if (options.traceback !== undefined) this.traceback = options.traceback;
    const limit = limitOf(luaMessage);
    if (limit !== undefined && (kind === 'budget' || limit === 'string-size')) this.limit = limit;
  }
}

// A chunk name as Lua prints it: a relative file path ending in .lua, or the
// [string "..."] form of chunks built by load/loadstring.
const FILE_POSITION = /(?:^|[\s'"(])([A-Za-z0-9_.\-/]+\.lua):(\d+):/;
const STRING_POSITION = /^(\[string ".*?"\]):(\d+):/;

/** The first "file.lua:12:" in a Lua error message, if there is one. */
export function parseLuaPosition(message: string): { script: string; line: number } | undefined {
  const m = FILE_POSITION.exec(message) ?? STRING_POSITION.exec(message);
  if (m === null) return undefined;
  return { script: m[1]!, line: Number(m[2]) };
}

/** A module name that does not map to a file inside the scripts directory. */
export class ModulePathError extends MoonwatchError {
  constructor(name: string, reason: string) {
    super('MW_ERR_SCRIPT_MODULE_PATH', `invalid module name '${name}': ${reason}`);
  }
}

/** A script source exists but could not be read (permissions, a directory, I/O). */
export class SourceReadError extends MoonwatchError {
  constructor(relPath: string, cause: unknown) {
    super('MW_ERR_SCRIPT_SOURCE_READ', `cannot read script '${relPath}': ${errorMessage(cause)}`, { cause });
  }
}

/** A value that cannot cross between JS and Lua (functions, cycles, too deep). */
export class MarshalError extends MoonwatchError {
  constructor(message: string) {
    super('MW_ERR_LUA_MARSHAL', message);
  }
}

/** The host used the VM wrongly: after close(), unbalanced stack, bad global name. */
export class LuaVmUsageError extends MoonwatchError {
  constructor(message: string) {
    super('MW_ERR_LUA_VM_USAGE', message);
  }
}
