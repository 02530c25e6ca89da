import { monotonicMs } from '../clock.ts';
import { lauxlib, lua, to_luastring, type LuaState } from './fengari.ts';
import { dropMessageHandler, installMeter, type Meter } from './vm-internals.ts';

/** What one call into a script may consume. */
export interface Budget {
  /** Lua VM instructions (pattern-matching steps count as instructions), checked every hook interval. */
  readonly instructions: number;
  /** Wall-clock milliseconds from the start of the outermost call. */
  readonly wallMs: number;
}

/**
 * A policy phase is a few thousand instructions; a million is ~40 ms of pure
 * Fengari arithmetic on a slow core, so the 20 ms wall limit is usually the one
 * that trips a runaway loop.
 */
export const DEFAULT_BUDGET: Budget = Object.freeze({ instructions: 1_000_000, wallMs: 20 });

/**
 * How many instructions run between two budget checks. Whatever the interval,
 * an armed count hook costs Fengari a call per instruction (~6% of a trivial
 * callout, see test/bench/lua-raw.bench.ts); the interval only sets how often
 * the JS check itself runs. At 1000 that is once per ~40 µs of Lua, so the
 * check is noise and a runaway loop overshoots its limit by microseconds.
 */
export const HOOK_INTERVAL = 1000;

/** Pattern-matching steps (calls of lstrlib's match()) between two budget checks. */
export const PATTERN_STEP_INTERVAL = 1000;

/**
 * Bytes one call may allocate in strings and table entries (a string's bytes
 * plus 32, a table entry 80) before it faults. Garbage counts: this bounds
 * the work and the transient memory of one phase, not what it keeps.
 */
export const DEFAULT_MAX_CALL_BYTES = 16 * 1024 * 1024;

/** Allocated bytes between two wall-clock checks inside a library call (load, rep, gsub, ..). */
const BYTES_BETWEEN_CHECKS = 256 * 1024;

/** Which limit stopped a call; logged as `limit` with every budget fault. */
export type BudgetLimit = 'instructions' | 'wall-clock' | 'memory' | 'string-size';

const LIMIT_MESSAGES: Readonly<Record<Exclude<BudgetLimit, 'string-size'>, string>> = Object.freeze({
  instructions: 'instruction budget exceeded',
  'wall-clock': 'wall-clock budget exceeded',
  memory: 'memory budget exceeded',
});

/** The limit a budget or string-cap message names, if it names one. */
export function limitOf(message: string): BudgetLimit | undefined {
  if (message.includes(LIMIT_MESSAGES.instructions)) return 'instructions';
  if (message.includes(LIMIT_MESSAGES['wall-clock'])) return 'wall-clock';
  if (message.includes(LIMIT_MESSAGES.memory)) return 'memory';
  if (message.includes('-byte string limit')) return 'string-size';
  return undefined;
}

/**
 * Enforces a Budget with three meters, all per VM and so shared by every Lua
 * thread (coroutine) of it:
 *
 * - a count hook on every thread (installed on the main thread and never
 *   removed: lua_newthread copies it, and moonwatch's lapi.js patch keeps it
 *   armed after an error caught by pcall inside a coroutine);
 * - pattern-matching steps, counted by the lstrlib.js patch, charged as
 *   instructions, so string.find/match/gmatch/gsub on a pathological pattern
 *   stop like a loop does;
 * - allocation: every string built (lstring.js patch) and every table entry
 *   added (ltable.js patch) is charged; past maxBytes the call faults, and
 *   every BYTES_BETWEEN_CHECKS the wall clock is read, so a library call that
 *   builds a lot (load, rep, gsub, ..) cannot outlast its deadline either.
 *
 * The wall clock starts at the first check of a call rather than at its
 * start: reading any clock costs ~70 ns here, more than the whole budget for
 * overhead on a callout that finishes in a microsecond without ever reaching
 * a check. A call therefore gets wallMs plus the time of its first
 * HOOK_INTERVAL instructions (tens of microseconds unless a host function
 * blocks).
 *
 * Once tripped, the guard re-arms the hook on the faulting thread to fire on
 * every instruction and raises on each one until the outermost call ends, so a
 * pcall, xpcall handler or coroutine.resume that catches the first error runs
 * at most one more instruction before the error comes back.
 */
export class BudgetGuard {
  private depth = 0;
  private remaining = Infinity;
  private wallMs = Infinity;
  private maxBytes = DEFAULT_MAX_CALL_BYTES;
  /** NaN until the first check of a call reads the clock. */
  private deadline = NaN;
  private trippedMessage: string | null = null;
  private trippedLimit: BudgetLimit | undefined;
  private tracebackAtTrip: string | undefined;
  private readonly hook: (L: LuaState) => void;
  private readonly meter: Meter;

  constructor(
    private readonly L: LuaState,
    private readonly interval: number = HOOK_INTERVAL,
    private readonly defaultMaxBytes: number = DEFAULT_MAX_CALL_BYTES,
  ) {
    this.hook = (L1: LuaState) => this.onHook(L1);
    lua.lua_sethook(L, this.hook, lua.LUA_MASKCOUNT, interval);
    this.meter = {
      steps: PATTERN_STEP_INTERVAL,
      bytes: 0,
      nextCheck: Infinity,
      onSteps: (L1) => this.onSteps(L1),
      onBytes: (L1) => this.onBytes(L1),
    };
    installMeter(L, this.meter);
  }

  /** The reason the current call was stopped, or null while it is within budget. */
  get tripped(): string | null {
    return this.trippedMessage;
  }

  /** Which limit stopped the current call. */
  get limit(): BudgetLimit | undefined {
    return this.trippedLimit;
  }

  /** Where the script was when the budget ran out. */
  get trippedTraceback(): string | undefined {
    return this.tracebackAtTrip;
  }

  /** Instructions the last budgeted call left unused (async phases carry them to the next resume). */
  get instructionsLeft(): number {
    return this.remaining;
  }

  /** True while a budgeted call is running (including host code it called). */
  get active(): boolean {
    return this.depth > 0;
  }

  /** Bytes the current outermost call has allocated so far. */
  get allocated(): number {
    return this.depth > 0 ? this.meter.bytes : 0;
  }

  /**
   * Starts a budgeted call. A nested call (a host function calling back into
   * Lua) runs under the budget of the outermost one, so a script cannot reset
   * its own deadline by going through the host.
   */
  enter(budget: Budget, maxBytes: number = this.defaultMaxBytes): void {
    if (this.depth++ > 0) return;
    this.remaining = budget.instructions;
    this.wallMs = budget.wallMs;
    this.maxBytes = maxBytes;
    this.deadline = NaN;
    this.meter.bytes = 0;
    this.meter.nextCheck = BYTES_BETWEEN_CHECKS;
    this.meter.steps = PATTERN_STEP_INTERVAL;
  }

  /** Bytes the last finished outermost call allocated (what a generation may have kept of it). */
  lastAllocated = 0;

  exit(): void {
    if (--this.depth > 0) return;
    this.depth = 0;
    this.lastAllocated = this.meter.bytes;
    this.meter.nextCheck = Infinity;
    if (this.trippedMessage !== null) {
      this.trippedMessage = null;
      this.trippedLimit = undefined;
      this.tracebackAtTrip = undefined;
      lua.lua_sethook(this.L, this.hook, lua.LUA_MASKCOUNT, this.interval);
    }
  }

  /**
   * True when the call ran past its deadline without a check noticing (its
   * last stretch ran in a host function, or finished between two checks).
   * The VM turns such a call into a wall-clock fault: an overrun is never a
   * success. Reads the clock only if the call ran long enough to start it.
   */
  overranQuietly(): boolean {
    return this.trippedMessage === null && !Number.isNaN(this.deadline) && monotonicMs() > this.deadline;
  }

  /** Records a wall-clock trip found after the fact (see overranQuietly). */
  markOverrun(): void {
    this.trippedMessage = LIMIT_MESSAGES['wall-clock'];
    this.trippedLimit = 'wall-clock';
  }

  /**
   * For long loops inside host functions, where no Lua instruction runs and the
   * count hook cannot fire: raises if the call is over its wall-clock budget.
   */
  checkpoint(L1: LuaState): void {
    if (this.trippedMessage === null) {
      if (this.depth === 0 || !this.overDeadline()) return;
      this.arm(L1, 'wall-clock');
    }
    dropMessageHandler(L1);
    raiseAtScript(L1, this.trippedMessage!);
  }

  private onHook(L1: LuaState): void {
    if (this.trippedMessage !== null) {
      if (lua.lua_gethookcount(L1) !== 1) lua.lua_sethook(L1, this.hook, lua.LUA_MASKCOUNT, 1);
      dropMessageHandler(L1);
      raiseHere(L1, this.trippedMessage);
    }
    if (lua.lua_gethookcount(L1) !== this.interval) {
      // A coroutine left on the every-instruction hook by an earlier call's trip.
      lua.lua_sethook(L1, this.hook, lua.LUA_MASKCOUNT, this.interval);
      return;
    }
    if (this.depth === 0) return;
    this.remaining -= this.interval;
    if (this.remaining <= 0) this.trip(L1, 'instructions', raiseHere);
    // Table entries are charged where no thread is at hand; they are checked here.
    if (this.meter.bytes > this.maxBytes) this.trip(L1, 'memory', raiseHere);
    if (this.overDeadline()) this.trip(L1, 'wall-clock', raiseHere);
  }

  private onSteps(L1: LuaState): void {
    this.meter.steps = PATTERN_STEP_INTERVAL;
    if (this.depth === 0) return;
    if (this.trippedMessage !== null) {
      dropMessageHandler(L1);
      raiseAtScript(L1, this.trippedMessage);
    }
    this.remaining -= PATTERN_STEP_INTERVAL;
    if (this.remaining <= 0) this.trip(L1, 'instructions', raiseAtScript);
    if (this.overDeadline()) this.trip(L1, 'wall-clock', raiseAtScript);
  }

  private onBytes(L1: LuaState): void {
    const m = this.meter;
    if (this.depth === 0 || this.trippedMessage !== null) {
      // Idle, or already stopping: raising again here would recurse through the error's own strings.
      m.nextCheck = Infinity;
      return;
    }
    m.nextCheck = m.bytes + BYTES_BETWEEN_CHECKS;
    if (m.bytes > this.maxBytes) this.trip(L1, 'memory', raiseAtScript);
    if (this.overDeadline()) this.trip(L1, 'wall-clock', raiseAtScript);
  }

  private overDeadline(): boolean {
    const now = monotonicMs();
    if (Number.isNaN(this.deadline)) this.deadline = now + this.wallMs;
    return now > this.deadline;
  }

  private trip(L1: LuaState, limit: Exclude<BudgetLimit, 'string-size'>, raise: (L: LuaState, message: string) => never): never {
    this.arm(L1, limit);
    dropMessageHandler(L1);
    return raise(L1, this.trippedMessage!);
  }

  /** From now until the call ends, every instruction on these threads raises. */
  private arm(L1: LuaState, limit: Exclude<BudgetLimit, 'string-size'>): void {
    // The error and its traceback are strings too: stop charging before building them.
    this.meter.nextCheck = Infinity;
    this.trippedLimit = limit;
    this.trippedMessage =
      limit === 'memory' ? `${LIMIT_MESSAGES.memory} (allocated over ${this.maxBytes} bytes)` : LIMIT_MESSAGES[limit];
    lauxlib.luaL_traceback(L1, L1, null, 0);
    this.tracebackAtTrip = lua.lua_tojsstring(L1, -1) ?? undefined;
    lua.lua_pop(L1, 1);
    lua.lua_sethook(L1, this.hook, lua.LUA_MASKCOUNT, 1);
    if (L1 !== this.L) lua.lua_sethook(this.L, this.hook, lua.LUA_MASKCOUNT, 1);
  }
}

/**
 * A hook runs without a call frame of its own, so level 0 is the Lua function
 * that was interrupted: that is where the error belongs.
 */
function raiseHere(L: LuaState, message: string): never {
  lauxlib.luaL_where(L, 0);
  lua.lua_pushstring(L, to_luastring(message));
  lua.lua_concat(L, 2);
  lua.lua_error(L);
  throw new Error('unreachable: lua_error returned');
}

/** "file.lua:12: " of the nearest Lua frame (library callbacks sit under C frames), or "". */
export function scriptWhere(L: LuaState): string {
  let where = '';
  // Level 0 is the running function: a Lua function when the VM itself allocated (`..`), else a library callback.
  for (let level = 0; level < 10 && where === ''; level++) {
    lauxlib.luaL_where(L, level);
    where = lua.lua_tojsstring(L, -1) ?? '';
    lua.lua_pop(L, 1);
  }
  return where;
}

/** Errors from inside a library callback belong to the nearest Lua frame. */
export function raiseAtScript(L: LuaState, message: string): never {
  lua.lua_pushstring(L, to_luastring(scriptWhere(L) + message));
  lua.lua_error(L);
  throw new Error('unreachable: lua_error returned');
}

export { installStringCaps } from './string-caps.ts';
