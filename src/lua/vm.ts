import { SystemClock, type Clock } from '../clock.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { BudgetGuard, DEFAULT_MAX_CALL_BYTES, installStringCaps, scriptWhere, type Budget } from './budget.ts';
import { installCompat } from './compat.ts';
import { LuaVmUsageError, parseLuaPosition, ScriptFault, type ScriptFaultKind, type ScriptFaultOptions } from './errors.ts';
import { lauxlib, loadFengari, lua, to_jsstring, to_luastring, type LuaState } from './fengari.ts';
import type { LuaCFunction } from './marshal.ts';
import { protectEnvironment } from './protect.ts';
import { openSandbox, pruneToAllowList, SANDBOX_GLOBALS } from './sandbox.ts';
import { installLoaders, type SourceReader } from './sources.ts';
import { currentFrame, measureRetained, restoreThread, saveThread } from './vm-internals.ts';

export { DEFAULT_BUDGET, DEFAULT_MAX_CALL_BYTES, HOOK_INTERVAL, type Budget } from './budget.ts';

/** Loggers already told about skipped speed patches: once per logger, not once per generation. */
const warnedLoggers = new WeakSet<Logger>();

export const DEFAULT_MAX_STRING_BYTES = 1024 * 1024;

export interface LuaVmOptions {
  sources: SourceReader;
  logger: Logger;
  /** Default budget of call() and requireModule(). */
  budget: Budget;
  /** Default: logger.info({ script_print: true }, text). */
  onPrint?: (text: string) => void;
  /** Expose Fengari's io library (stdout writes). Off for policies. */
  allowIo?: boolean;
  /** Largest string rep/format/gsub/pack/table.concat/load may build. Default 1 MiB. */
  maxStringBytes?: number;
  /** Time seen by os.time()/os.date(). Default: the system clock. */
  clock?: Clock;
  /** Instructions between budget checks (tests and benchmarks tune it). */
  hookInterval?: number;
  /** Bytes one call may allocate (strings, table entries) before it faults. Default 16 MiB. */
  maxCallBytes?: number;
}

export interface ResumeResult {
  /** 'yield' when the coroutine yielded and can be resumed again. */
  status: 'ok' | 'yield';
  /** Values returned or yielded, on top of the coroutine's stack. */
  nresults: number;
}

/**
 * One sandboxed Fengari state running Momentum-dialect scripts. No JS
 * exception escapes it: script errors, budget trips and errors thrown by host
 * functions all come out of call()/requireModule() as ScriptFault, with the
 * stack restored to where it was before the function was pushed.
 */
export class LuaVm {
  readonly L: LuaState;
  private readonly guard: BudgetGuard;
  private readonly budget: Budget;
  private readonly requireFn: LuaCFunction;
  private readonly logger: Logger;
  private printHandler: (text: string) => void;
  private loadFailures: string[] = [];
  private lastTraceback: string | undefined;
  private closed = false;
  private sealed = false;
  private readonly allowIo: boolean;

  constructor(opts: LuaVmOptions) {
    // The first VM loads the runtime; an unsupported fengari refuses here, at every entry point.
    const patches = loadFengari();
    if (patches.skipped.length > 0 && !warnedLoggers.has(opts.logger)) {
      warnedLoggers.add(opts.logger);
      opts.logger.warn(
        { fengari: patches.version, skipped: patches.skipped },
        'fengari speed patches not applied (see skipped); those parts run unpatched: correct, slower',
      );
    }
    checkBudget(opts.budget);
    const maxStringBytes = opts.maxStringBytes ?? DEFAULT_MAX_STRING_BYTES;
    if (!Number.isSafeInteger(maxStringBytes) || maxStringBytes < 1) {
      throw new LuaVmUsageError(`maxStringBytes must be a positive integer, got ${maxStringBytes}`);
    }
    this.budget = opts.budget;
    this.logger = opts.logger;
    this.printHandler = opts.onPrint ?? ((text) => opts.logger.info({ script_print: true }, text));
    const allowIo = opts.allowIo ?? false;
    this.allowIo = allowIo;
    const maxCallBytes = opts.maxCallBytes ?? DEFAULT_MAX_CALL_BYTES;
    if (!(maxCallBytes > 0)) throw new LuaVmUsageError(`maxCallBytes must be positive, got ${maxCallBytes}`);
    const L = lauxlib.luaL_newstate();
    this.L = L;
    // Before any library opens: every table made from here on is metered.
    this.guard = new BudgetGuard(L, opts.hookInterval, maxCallBytes);
    lua.lua_atnativeerror(L, (L1: LuaState) => this.nativeError(L1));
    openSandbox(L, { allowIo, clock: opts.clock ?? new SystemClock(), print: (text) => this.printHandler(text) });
    installCompat(L);
    installLoaders(L, {
      sources: opts.sources,
      maxStringBytes,
      onLoadFailure: (message) => this.loadFailures.push(message),
    });
    installStringCaps(L, maxStringBytes, this.guard);
    pruneToAllowList(L, { allowIo });
    lua.lua_getglobal(L, 'require');
    this.requireFn = lua.lua_tocfunction(L, -1)!;
    lua.lua_pop(L, 1);
  }

  /** Sets a global (e.g. the msys table) to the one value `push` leaves on the stack. */
  setGlobal(name: string, push: (L: LuaState) => void): void {
    this.pushOne(name, push);
    lua.lua_setglobal(this.L, to_luastring(name));
  }

  /** package.loaded[name] = the one value `push` leaves, so require(name) returns it. */
  preload(name: string, push: (L: LuaState) => void): void {
    this.pushOne(name, push);
    lauxlib.luaL_getsubtable(this.L, lua.LUA_REGISTRYINDEX, lauxlib.LUA_LOADED_TABLE);
    lua.lua_insert(this.L, -2);
    lua.lua_setfield(this.L, -2, to_luastring(name));
    lua.lua_pop(this.L, 1);
  }

  /**
   * require() a module from the scripts directory under the budget. A file that
   * is missing or does not compile (here or in a module it requires) is a
   * 'load' fault; an error while its chunk runs is 'runtime' or 'budget'.
   */
  requireModule(name: string, budget: Budget = this.budget): void {
    this.assertOpen();
    if (typeof name !== 'string' || name === '') throw new LuaVmUsageError('requireModule needs a module name');
    const before = this.loadFailures.length;
    lua.lua_pushcfunction(this.L, this.requireFn);
    lua.lua_pushstring(this.L, to_luastring(name));
    try {
      this.call(1, 0, budget);
    } catch (err) {
      if (err instanceof ScriptFault && err.kind === 'runtime') {
        const failure = this.loadFailures.slice(before).find((m) => err.luaMessage.includes(m));
        if (failure !== undefined) throw refault(err, 'load', parseLuaPosition(failure));
      }
      throw err;
    } finally {
      this.loadFailures.length = before;
    }
  }

  /**
   * Calls the function at stack[-nargs-1] under the budget. On success leaves
   * its results (nresults, or all of them with LUA_MULTRET) and returns their
   * count; on failure restores the stack to below the function and throws.
   */
  call(nargs: number, nresults: number, budget: Budget = this.budget): number {
    const L = this.L;
    if (this.closed) this.assertOpen();
    const fn = lua.lua_gettop(L) - nargs;
    if (!(nargs >= 0 && fn >= 1)) throw new LuaVmUsageError(`call(${nargs}) needs a function and ${nargs} arguments on the stack`);
    if (!(budget.instructions > 0 && budget.wallMs > 0)) checkBudget(budget);
    let status = -1;
    let escaped: unknown;
    let tripped: string | null = null;
    let entered = false;
    const saved = saveThread(L);
    this.lastTraceback = undefined;
    try {
      this.guard.enter(budget);
      entered = true;
      // No message handler: inserting one below the function costs more than
      // the 10% this hot path may add. Budget trips and host exceptions keep
      // a traceback of their own; plain Lua errors carry file:line.
      status = lua.lua_pcall(L, nargs, nresults, 0);
    } catch (err) {
      // Only a JS exception Fengari could not turn into a Lua error gets here:
      // in practice a host stack overflow (the caller was already deep in JS),
      // possibly thrown half-way through Fengari's own unwinding, which leaves
      // the thread pointing at a dead call frame.
      escaped = err;
    }
    if (entered) {
      // A call that finished past its deadline is a fault, never a success.
      if (this.guard.overranQuietly()) this.guard.markOverrun();
      tripped = this.guard.tripped;
      if (tripped !== null) this.lastTraceback = this.guard.trippedTraceback;
      this.guard.exit();
    }
    if (status === lua.LUA_OK && tripped === null && currentFrame(L) === saved.ci) return lua.lua_gettop(L) - fn + 1;
    // An error, or a host stack overflow that Fengari half-handled: put the
    // thread back as it was before the call (a no-op after a clean Lua error).
    restoreThread(L, saved);
    let message = 'host stack overflow';
    try {
      message =
        escaped !== undefined
          ? describeJsError(escaped)
          : status === NATIVE_ERROR_UNHANDLED
            ? unhandledNativeError(L)
            : status !== lua.LUA_OK
              ? describeError(L, -1)
              : tripped !== null
                ? tripped // a host-level pcall swallowed the trip; the call still ran out of budget
                : 'host stack overflow left the call unfinished; its results were discarded';
    } finally {
      // Even if describing the error overflowed the JS stack, never leave the error value behind.
      lua.lua_settop(L, fn - 1);
    }
    throw this.fault(tripped !== null ? 'budget' : 'runtime', message, escaped);
  }

  /**
   * Resumes a coroutine made with lua_newthread(vm.L) under the budget (hosts
   * that suspend a script while awaiting I/O). On error the coroutine is dead
   * and a ScriptFault is thrown.
   */
  resume(co: LuaState, nargs: number, budget: Budget = this.budget): ResumeResult {
    this.assertOpen();
    checkBudget(budget);
    this.guard.enter(budget);
    let status: number;
    let tripped: string | null;
    try {
      status = lua.lua_resume(co, this.L, nargs);
    } finally {
      if (this.guard.overranQuietly()) this.guard.markOverrun();
      tripped = this.guard.tripped;
      this.guard.exit();
    }
    // resume leaves the dead coroutine's frames in place, so its traceback is still there to read.
    if ((status === lua.LUA_OK || status === lua.LUA_YIELD) && tripped === null) {
      return { status: status === lua.LUA_OK ? 'ok' : 'yield', nresults: lua.lua_gettop(co) };
    }
    if (status === lua.LUA_OK || status === lua.LUA_YIELD) {
      // A pcall inside the script swallowed the trip: the callout still ran out of budget, as in call().
      lua.lua_settop(co, 0);
      throw this.fault('budget', tripped!, undefined);
    }
    const message = status === NATIVE_ERROR_UNHANDLED ? unhandledNativeError(co) : describeError(co, -1);
    lauxlib.luaL_traceback(this.L, co, null, 0);
    this.lastTraceback = lua.lua_tojsstring(this.L, -1) ?? undefined;
    lua.lua_pop(this.L, 1);
    lua.lua_settop(co, 0);
    throw this.fault(tripped !== null ? 'budget' : 'runtime', message, undefined);
  }

  /**
   * Makes the standard libraries, the tables of `globals` (msys and
   * everything under it), the string metatable and the names of every
   * library and base function read-only to scripts (src/lua/protect.ts).
   * Call once, after the host has installed every table it provides and
   * before any script runs: host writes into a protected table raise too.
   */
  seal(globals: readonly string[] = ['msys']): void {
    this.assertOpen();
    if (this.sealed) return;
    this.sealed = true;
    const names = [...Object.keys(SANDBOX_GLOBALS), ...(this.allowIo ? ['io'] : []), ...globals];
    protectEnvironment(this.L, { globals: names });
  }

  /** Bytes (strings, table entries) the last call allocated, garbage included. */
  get lastCallBytes(): number {
    return this.guard.lastAllocated;
  }

  /**
   * Bytes the state retains (reachable from globals, modules and host refs),
   * counted up to just past `limit`. Costs a walk of the retained objects.
   */
  retainedBytes(limit = Infinity): number {
    this.assertOpen();
    return measureRetained(this.L, limit);
  }

  /** Instructions the last call()/resume() left unused; a phase that suspends spends them over several resumes. */
  get instructionsLeft(): number {
    return this.guard.instructionsLeft;
  }

  /** Routes print() from now on, e.g. to the log of the session being served. */
  setPrintHandler(fn: (text: string) => void): void {
    this.printHandler = fn;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    lua.lua_close(this.L);
  }

  private fault(kind: ScriptFaultKind, message: string, cause: unknown): ScriptFault {
    const traceback = this.lastTraceback;
    this.lastTraceback = undefined;
    return new ScriptFault(kind, message, {
      ...(traceback === undefined ? {} : { traceback }),
      ...(cause === undefined ? {} : { cause }),
    });
  }

  /** lua_atnativeerror: a JS exception inside Fengari becomes a Lua error string. */
  private nativeError(L: LuaState): number {
    const err = lua.lua_touserdata(L, 1) as unknown;
    const text = describeJsError(err);
    let where = '';
    try {
      where = scriptWhere(L);
      lauxlib.luaL_traceback(L, L, null, 1);
      this.lastTraceback = lua.lua_tojsstring(L, -1) ?? undefined;
      lua.lua_pop(L, 1);
      this.logger.warn({ err }, 'JS exception inside a Lua call');
    } catch {
      // Near a stack overflow even logging can fail; the Lua error still carries the message.
    }
    lua.lua_pushstring(L, to_luastring(where + text));
    return 1;
  }

  private pushOne(name: string, push: (L: LuaState) => void): void {
    this.assertOpen();
    if (typeof name !== 'string' || name === '') throw new LuaVmUsageError('a global or module name is required');
    const top = lua.lua_gettop(this.L);
    try {
      push(this.L);
    } catch (err) {
      lua.lua_settop(this.L, top);
      throw err;
    }
    const pushed = lua.lua_gettop(this.L) - top;
    if (pushed !== 1) {
      lua.lua_settop(this.L, top);
      throw new LuaVmUsageError(`the push callback for '${name}' left ${pushed} values on the stack, expected 1`);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new LuaVmUsageError('the Lua VM is closed');
  }
}

function positive(n: number): boolean {
  return typeof n === 'number' && n > 0 && !Number.isNaN(n);
}

function checkBudget(b: Budget): void {
  if (b === null || typeof b !== 'object' || !positive(b.instructions) || !positive(b.wallMs)) {
    throw new LuaVmUsageError(`a budget needs positive instructions and wallMs, got ${JSON.stringify(b)}`);
  }
}

/**
 * Fengari's status when a JS exception could not be turned into a Lua error
 * because lua_atnativeerror itself failed (in practice: no JS stack left).
 * The state is unwound and consistent; only the original exception is lost,
 * unless it is still on the stack as light userdata.
 */
const NATIVE_ERROR_UNHANDLED = -1;

function unhandledNativeError(L: LuaState): string {
  const top = lua.lua_islightuserdata(L, -1) ? (lua.lua_touserdata(L, -1) as unknown) : undefined;
  return top instanceof Error ? describeJsError(top) : 'host stack overflow while reporting a JS exception';
}

function describeJsError(err: unknown): string {
  return err instanceof RangeError ? `host stack overflow (${err.message})` : `host error: ${errorMessage(err)}`;
}

/** The error value as text, without running metamethods (the budget is no longer armed). */
function describeError(L: LuaState, idx: number): string {
  const t = lua.lua_type(L, idx);
  if (t === lua.LUA_TSTRING || t === lua.LUA_TNUMBER) return lua.lua_tojsstring(L, idx) ?? '';
  if (t === lua.LUA_TNIL) return '(error object is a nil value)';
  return `(error object is a ${to_jsstring(lauxlib.luaL_typename(L, idx))} value)`;
}

function refault(err: ScriptFault, kind: ScriptFaultKind, position: ScriptFaultOptions['position']): ScriptFault {
  return new ScriptFault(kind, err.luaMessage, {
    cause: err,
    position: position ?? (err.script === undefined ? undefined : { script: err.script, line: err.line! }),
    ...(err.traceback === undefined ? {} : { traceback: err.traceback }),
  });
}
