import { monotonicMs } from '../clock.ts';
import { prepareFormat } from './compat.ts';
import { analysePattern, replacementRefs, type PatternShape, type ReplacementRefs } from './dialect.ts';
import { lauxlib, lua, to_luastring, type LuaState } from './fengari.ts';

/** What one call into a script may consume. */
export interface Budget {
  /** Lua VM instructions, counted in steps of the hook interval. */
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

/**
 * Enforces a Budget with a count hook. The hook is installed once on the main
 * thread and never removed: lua_newthread copies the creating thread's hook, so
 * every coroutine a script makes is counted too. Outside a budgeted call the
 * hook returns at once.
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
  /** NaN until the first check of a call reads the clock. */
  private deadline = NaN;
  private trippedMessage: string | null = null;
  private tracebackAtTrip: string | undefined;
  private readonly hook: (L: LuaState) => void;

  constructor(
    private readonly L: LuaState,
    private readonly interval: number = HOOK_INTERVAL,
  ) {
    this.hook = (L1: LuaState) => this.onHook(L1);
    lua.lua_sethook(L, this.hook, lua.LUA_MASKCOUNT, interval);
  }

  /** The reason the current call was stopped, or null while it is within budget. */
  get tripped(): string | null {
    return this.trippedMessage;
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

  /**
   * Starts a budgeted call. A nested call (a host function calling back into
   * Lua) runs under the budget of the outermost one, so a script cannot reset
   * its own deadline by going through the host.
   */
  enter(budget: Budget): void {
    if (this.depth++ > 0) return;
    this.remaining = budget.instructions;
    this.wallMs = budget.wallMs;
    this.deadline = NaN;
  }

  exit(): void {
    if (--this.depth > 0) return;
    this.depth = 0;
    if (this.trippedMessage !== null) {
      this.trippedMessage = null;
      this.tracebackAtTrip = undefined;
      lua.lua_sethook(this.L, this.hook, lua.LUA_MASKCOUNT, this.interval);
    }
  }

  /**
   * For long loops inside host functions, where no Lua instruction runs and the
   * count hook cannot fire: raises if the call is over its wall-clock budget.
   */
  checkpoint(L1: LuaState): void {
    if (this.trippedMessage === null) {
      if (this.depth === 0 || !this.overDeadline()) return;
      this.arm(L1, 'wall-clock budget exceeded');
    }
    raiseAtScript(L1, this.trippedMessage!);
  }

  private onHook(L1: LuaState): void {
    if (this.trippedMessage !== null) {
      if (lua.lua_gethookcount(L1) !== 1) lua.lua_sethook(L1, this.hook, lua.LUA_MASKCOUNT, 1);
      raiseHere(L1, this.trippedMessage);
    }
    if (lua.lua_gethookcount(L1) !== this.interval) {
      // A coroutine left on the every-instruction hook by an earlier call's trip.
      lua.lua_sethook(L1, this.hook, lua.LUA_MASKCOUNT, this.interval);
      return;
    }
    if (this.depth === 0) return;
    this.remaining -= this.interval;
    if (this.remaining <= 0) {
      this.trip(L1, 'instruction budget exceeded');
    } else if (this.overDeadline()) {
      this.trip(L1, 'wall-clock budget exceeded');
    }
  }

  private overDeadline(): boolean {
    const now = monotonicMs();
    if (Number.isNaN(this.deadline)) this.deadline = now + this.wallMs;
    return now > this.deadline;
  }

  private trip(L1: LuaState, message: string): never {
    this.arm(L1, message);
    return raiseHere(L1, message);
  }

  /** From now until the call ends, every instruction on these threads raises. */
  private arm(L1: LuaState, message: string): void {
    this.trippedMessage = message;
    lauxlib.luaL_traceback(L1, L1, null, 0);
    this.tracebackAtTrip = lua.lua_tojsstring(L1, -1);
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

/* ------------------------------------------------------------------------ *
 * String size caps. The count hook cannot see inside a library call, so the
 * library functions that build strings from a small input (rep, format,
 * gsub, pack, table.concat) check the size of their result before they build
 * it. `..` is compiled to a VM instruction and cannot be capped this way.
 * ------------------------------------------------------------------------ */

type LuaCFunction = (L: LuaState) => number;

/** Replaces the string-building library functions that could allocate without bound. */
export function installStringCaps(L: LuaState, maxBytes: number, guard: BudgetGuard): void {
  lua.lua_getglobal(L, 'string');
  const rep = rawFunction(L, 'rep');
  const format = rawFunction(L, 'format');
  const gsub = rawFunction(L, 'gsub');
  const pack = rawFunction(L, 'pack');
  setFunction(L, 'rep', (L1) => {
    const len = lauxlib.luaL_checklstring(L1, 1).length;
    const n = lauxlib.luaL_checkinteger(L1, 2);
    const sep = lauxlib.luaL_optlstring(L1, 3, '').length;
    if (n > 0) checkSize(L1, 'string.rep', n * len + (n - 1) * sep, maxBytes);
    return rep(L1);
  });
  setFunction(L, 'format', (L1) => {
    checkSize(L1, 'string.format', prepareFormat(L1), maxBytes);
    return format(L1);
  });
  setFunction(L, 'gsub', (L1) => gsubCapped(L1, gsub, maxBytes, guard));
  setFunction(L, 'pack', (L1) => {
    checkSize(L1, 'string.pack', packBound(L1), maxBytes);
    return pack(L1);
  });
  lua.lua_pop(L, 1);

  lua.lua_getglobal(L, 'table');
  setFunction(L, 'concat', (L1) => tableConcat(L1, maxBytes, guard));
  lua.lua_pop(L, 1);
}

function rawFunction(L: LuaState, name: string): LuaCFunction {
  lua.lua_getfield(L, -1, name);
  const f = lua.lua_tocfunction(L, -1) as LuaCFunction | null;
  lua.lua_pop(L, 1);
  if (f === null) throw new Error(`string.${name} is not a host function`);
  return f;
}

function setFunction(L: LuaState, name: string, f: LuaCFunction): void {
  lua.lua_pushcfunction(L, f);
  lua.lua_setfield(L, -2, name);
}

function checkSize(L: LuaState, what: string, bytes: number, maxBytes: number): void {
  if (bytes > maxBytes) raiseAtScript(L, `${what}: result of ${bytes} bytes exceeds the ${maxBytes}-byte string limit`);
}

/** "file.lua:12: " of the nearest Lua frame (library callbacks sit under C frames), or "". */
export function scriptWhere(L: LuaState): string {
  let where = '';
  for (let level = 1; level < 10 && where === ''; level++) {
    lauxlib.luaL_where(L, level);
    where = lua.lua_tojsstring(L, -1);
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

/** Every fixed size is written as a number in the format; strings add their length. */
function packBound(L: LuaState): number {
  const fmt = lauxlib.luaL_checklstring(L, 1) as Uint8Array;
  let bound = 16 * fmt.length;
  let number = 0;
  for (const c of fmt) {
    if (c >= 48 && c <= 57) number = number * 10 + c - 48;
    else {
      bound += number;
      number = 0;
    }
  }
  bound += number;
  const top = lua.lua_gettop(L);
  for (let i = 2; i <= top; i++) {
    bound += 16 + (lua.lua_type(L, i) === lua.LUA_TSTRING ? (lua.lua_tostring(L, i) as Uint8Array).length : 16);
  }
  return bound;
}

function tableConcat(L: LuaState, maxBytes: number, guard: BudgetGuard): number {
  lauxlib.luaL_checktype(L, 1, lua.LUA_TTABLE);
  const last = lauxlib.luaL_len(L, 1);
  const sep = lauxlib.luaL_optlstring(L, 2, '') as Uint8Array;
  const first = lauxlib.luaL_optinteger(L, 3, 1);
  const end = lauxlib.luaL_optinteger(L, 4, last);
  const b = new lauxlib.luaL_Buffer();
  lauxlib.luaL_buffinit(L, b);
  let size = 0;
  for (let i = first; i <= end; i++) {
    if (((i - first) & 4095) === 4095) guard.checkpoint(L);
    lua.lua_geti(L, 1, i);
    if (!lua.lua_isstring(L, -1)) {
      lauxlib.luaL_error(
        L,
        to_luastring("invalid value (at index %d) in table for 'concat'"),
        i,
      );
    }
    size += (lua.lua_tostring(L, -1) as Uint8Array).length + (i < end ? sep.length : 0);
    checkSize(L, 'table.concat', size, maxBytes);
    lauxlib.luaL_addvalue(b);
    if (i < end) lauxlib.luaL_addlstring(b, sep, sep.length);
  }
  lauxlib.luaL_pushresult(b);
  return 1;
}

/**
 * gsub within the string limit. A function or table replacement is wrapped so
 * the running size is known after every match. A string replacement is first
 * bounded from the pattern's shortest possible match; only when that bound is
 * over the limit does a counting pass measure every match before the real run.
 */
function gsubCapped(L: LuaState, gsub: LuaCFunction, maxBytes: number, guard: BudgetGuard): number {
  const srcLen = (lauxlib.luaL_checklstring(L, 1) as Uint8Array).length;
  const shape = analysePattern(lauxlib.luaL_checklstring(L, 2) as Uint8Array);
  const tr = lua.lua_type(L, 3);
  if (tr === lua.LUA_TFUNCTION || tr === lua.LUA_TTABLE) {
    lua.lua_pushvalue(L, 3);
    lua.lua_pushcclosure(L, measuringReplacement(tr, srcLen, shape, maxBytes, guard), 1);
    lua.lua_replace(L, 3);
    return gsub(L);
  }
  if (tr !== lua.LUA_TSTRING && tr !== lua.LUA_TNUMBER) return gsub(L); // gsub reports the bad argument
  const maxN = lauxlib.luaL_optinteger(L, 4, srcLen + 1);
  lua.lua_settop(L, 4);
  const refs = replacementRefs(lua.lua_tolstring(L, 3) as Uint8Array);
  if (gsubBound(srcLen, shape, refs, maxN) <= maxBytes) return gsub(L);

  // Counting pass: the same gsub with a callback that keeps every match and adds up the expansion.
  let size = srcLen + (shape.captures ? refs.zero * srcLen : 0);
  let calls = 0;
  lua.lua_pushcfunction(L, gsub);
  lua.lua_pushvalue(L, 1);
  lua.lua_pushvalue(L, 2);
  lua.lua_pushcfunction(L, (L1: LuaState) => {
    if ((++calls & 1023) === 0) guard.checkpoint(L1);
    size += refs.literal;
    if (!shape.captures) size -= (lua.lua_tolstring(L1, 1) as Uint8Array).length;
    for (const d of refs.digits) {
      const idx = d === 0 ? (shape.captures ? 0 : 1) : d;
      if (idx === 0 || lua.lua_type(L1, idx) === lua.LUA_TNONE) continue; // %0 is in the bound above; a bad index is gsub's to report
      size += (lauxlib.luaL_tolstring(L1, idx) as Uint8Array).length;
      lua.lua_pop(L1, 1);
    }
    checkSize(L1, 'string.gsub', size, maxBytes);
    return 0; // keep the matched text: this pass only measures
  });
  lua.lua_pushvalue(L, 4);
  lua.lua_call(L, 4, 0);
  return gsub(L);
}

function measuringReplacement(
  tr: number,
  srcLen: number,
  shape: PatternShape,
  maxBytes: number,
  guard: BudgetGuard,
): LuaCFunction {
  let size = srcLen;
  let calls = 0;
  return (L: LuaState) => {
    if ((++calls & 1023) === 0) guard.checkpoint(L);
    const nargs = lua.lua_gettop(L);
    const matched = shape.captures ? 0 : (lua.lua_tolstring(L, 1) as Uint8Array).length;
    lua.lua_pushvalue(L, lua.lua_upvalueindex(1));
    if (tr === lua.LUA_TTABLE) {
      lua.lua_pushvalue(L, 1);
      lua.lua_gettable(L, -2);
    } else {
      for (let i = 1; i <= nargs; i++) lua.lua_pushvalue(L, i);
      lua.lua_call(L, nargs, 1);
    }
    const t = lua.lua_type(L, -1);
    if (t === lua.LUA_TSTRING || t === lua.LUA_TNUMBER) {
      size += (lua.lua_tolstring(L, -1) as Uint8Array).length - matched;
      checkSize(L, 'string.gsub', size, maxBytes);
    }
    return 1;
  };
}

/**
 * Upper bound of gsub's result for a string replacement. Matches do not
 * overlap, so their lengths add up to at most srcLen; every reference expands
 * to at most its match (or to a position number, for "()" captures).
 */
function gsubBound(srcLen: number, shape: PatternShape, refs: ReplacementRefs, maxN: number): number {
  const n = Math.max(0, Math.min(maxN, shape.minLength > 0 ? Math.floor(srcLen / shape.minLength) : srcLen + 1));
  const count = refs.digits.length;
  const growth = count === 0 ? n * (refs.literal - shape.minLength) : n * refs.literal + (count - 1) * srcLen;
  const positions = shape.positionCaptures ? count * n * String(srcLen + 1).length : 0;
  return srcLen + Math.max(0, growth) + positions;
}
