/**
 * The only place moonwatch reads or writes Fengari's private fields. Two
 * needs, both tied to Fengari 0.1.5's lstate.js (the fields mirror C Lua
 * 5.3's lua_State and global_State):
 *
 * - saving and restoring the per-thread fields that luaD_pcall and
 *   luaD_rawrunprotected restore after an error, for when a JS exception
 *   (in practice a host stack overflow) escapes lua_pcall half-way through
 *   that unwinding;
 * - hanging the containment meter on the global state, where moonwatch's
 *   patches to lstrlib.js, lstring.js and ltable.js find it.
 *
 * checkInternalsShape() verifies every field used here on a real state; a
 * test runs it, so a Fengari whose internals moved fails there, not in
 * production.
 */
import type { LuaState } from './fengari-types.ts';
import { lua } from './fengari.ts';

/** The fields of a thread that call() puts back after a half-finished unwinding. */
export interface ThreadSnapshot {
  readonly ci: unknown;
  readonly nny: number;
  readonly nCcalls: number;
  readonly errfunc: number;
  readonly allowhook: number;
  readonly errorJmp: unknown;
}

const THREAD_FIELDS = ['ci', 'nny', 'nCcalls', 'errfunc', 'allowhook', 'errorJmp'] as const;
const NUMERIC_FIELDS = new Set<string>(['nny', 'nCcalls', 'errfunc', 'allowhook']);

interface ThreadFields {
  ci: unknown;
  nny: number;
  nCcalls: number;
  errfunc: number;
  allowhook: number;
  errorJmp: unknown;
  l_G: GlobalFields;
}

/** What the patched lstrlib.js, lstring.js and ltable.js read from the global state. */
export interface Meter {
  /** Pattern steps left before onSteps; decremented by lstrlib's match(). */
  steps: number;
  /** Bytes charged so far in this call: strings by lstring's luaS_bless, table entries by ltable's add(). */
  bytes: number;
  /** luaS_bless calls onBytes once bytes reaches this. Infinity when no call is metered. */
  nextCheck: number;
  onSteps(L: LuaState): void;
  onBytes(L: LuaState): void;
}

interface GlobalFields {
  mainthread: unknown;
  mwMeter?: Meter;
}

const fields = (L: LuaState) => L as unknown as ThreadFields;

/** Reads the fields one by one (this runs on every call; no object is built unless needed). */
export function saveThread(L: LuaState): ThreadSnapshot {
  const t = fields(L);
  return { ci: t.ci, nny: t.nny, nCcalls: t.nCcalls, errfunc: t.errfunc, allowhook: t.allowhook, errorJmp: t.errorJmp };
}

export function restoreThread(L: LuaState, s: ThreadSnapshot): void {
  Object.assign(fields(L), s);
}

/** The current call frame, to tell whether a call left the thread where it began. */
export function currentFrame(L: LuaState): unknown {
  return fields(L).ci;
}

/**
 * A Lua value the host keeps a hold of. Fengari's tables, functions and
 * userdata are JS objects, so a JS reference keeps one alive as surely as a
 * registry slot does, and pushing it back is one store instead of a registry
 * lookup (an integer-keyed Map that every session's refs churn). For values a
 * host object owns and pushes often: a session's ac/vctx/msg, each module's
 * per-session self, callout functions, userdata metatables.
 */
export interface HeldValue {
  readonly type: number;
  readonly value: unknown;
}

interface StackFields {
  stack: (TValueLike | undefined)[];
  top: number;
}

/** Holds the value on top of L's stack (it stays there). */
export function holdTop(L: LuaState): HeldValue {
  const t = L as unknown as StackFields;
  const tv = t.stack[t.top - 1]!;
  return { type: tv.type, value: tv.value };
}

/** Pushes a held value: a nil is pushed the public way, then given the held type and value. */
export function pushHeld(L: LuaState, h: HeldValue): void {
  lua.lua_pushnil(L);
  const t = L as unknown as StackFields;
  const tv = t.stack[t.top - 1]!;
  tv.type = h.type;
  tv.value = h.value;
}

/**
 * Makes the next error on L skip the xpcall message handler. A budget error
 * raised from inside the count hook would otherwise run the handler with hooks
 * off (luaD_hook clears allowhook while a hook runs), so a handler that loops
 * could never be stopped. luaD_pcall and recover() restore errfunc when the
 * error is caught, so the handler is back for later errors.
 */
export function dropMessageHandler(L: LuaState): void {
  fields(L).errfunc = 0;
}

/** Hangs the meter where the patched library files look for it (every thread of L shares it). */
export function installMeter(L: LuaState, meter: Meter): void {
  fields(L).l_G.mwMeter = meter;
}

/**
 * Lets string-keyed reads of the table at idx be remembered by their key
 * (fengari-patch.ts: "a Lua string remembers the table entry it last found").
 * Only for tables the host keeps for the life of the state: a remembered table
 * stays alive as long as the string that read it.
 */
export function rememberStringReads(L: LuaState, idx: number): void {
  (lua.lua_topointer(L, idx) as { mw$ic?: boolean }).mw$ic = true;
}

/** A Fengari value in place: its type tag (variant bits above the low four) and JS value. */
interface RawValue {
  readonly type: number;
  readonly value: unknown;
}

type FieldValueReader = (L: LuaState, idx: number, key: string) => RawValue | undefined;

/**
 * The option `key` of the table at idx, read in place (fengari-patch.ts: "an
 * option field read in place") when the table has no metatable: a number, a
 * boolean, or null for nil. undefined for anything else (a metatable, a
 * string, a table, the patch not applied): the caller reads it through
 * lua_getfield, with its usual metamethods and errors.
 */
export function optionValue(L: LuaState, idx: number, key: string): number | boolean | null | undefined {
  const read = (lua as unknown as { mw$fieldValue?: FieldValueReader }).mw$fieldValue;
  const tv = read?.(L, idx, key);
  if (tv === undefined) return undefined;
  const base = tv.type & 0x0f;
  if (base === lua.LUA_TNIL) return null;
  if (base === lua.LUA_TNUMBER || base === lua.LUA_TBOOLEAN) return tv.value as number | boolean;
  return undefined;
}

/**
 * Throws, naming the field, if a state does not have the shape this file
 * relies on. Run by test/lua/vm-internals.test.ts against the installed Fengari.
 */
export function checkInternalsShape(L: LuaState): void {
  const t = fields(L) as unknown as Record<string, unknown>;
  for (const f of THREAD_FIELDS) {
    if (!(f in t)) throw new Error(`fengari internals changed: lua_State has no '${f}'`);
    if (NUMERIC_FIELDS.has(f) && typeof t[f] !== 'number') throw new Error(`fengari internals changed: lua_State.${f} is not a number`);
  }
  if (typeof t['ci'] !== 'object' || t['ci'] === null) throw new Error("fengari internals changed: lua_State.ci is not a CallInfo");
  if (!Array.isArray(t['stack']) || typeof t['top'] !== 'number') throw new Error('fengari internals changed: lua_State has no stack array and top index');
  lua.lua_pushboolean(L, true);
  const held = holdTop(L);
  lua.lua_pop(L, 1);
  if (held.type !== lua.LUA_TBOOLEAN || held.value !== true) throw new Error('fengari internals changed: stack slots are not { type, value } pairs');
  const g = t['l_G'] as Record<string, unknown> | undefined;
  if (typeof g !== 'object' || g === null || g['mainthread'] !== L) {
    throw new Error("fengari internals changed: lua_State.l_G is not the global state whose mainthread is the state");
  }
}

/* ------------------------------------------------------------------------ *
 * What a state retains: a walk of everything reachable from the registry
 * (globals, package.loaded, module tables, the refs the host holds, and the
 * upvalues of every closure found), in the same units the allocation meter
 * charges: a string's bytes + 32, a table entry 80, a table 56. Strings and
 * tables are counted once however often they are referenced. Coroutines'
 * stacks and userdata are not walked.
 * ------------------------------------------------------------------------ */

interface TValueLike {
  type: number;
  value: unknown;
}
interface TableLike {
  strong: Map<unknown, { key: TValueLike; value: TValueLike }>;
  metatable: TableLike | null;
}

const T_STRING = 4;
const T_TABLE = 5;
const T_FUNCTION = 6;

/** Bytes retained by the state, counted until `limit` is passed (the walk stops there). */
export function measureRetained(L: LuaState, limit: number): number {
  const registry = (fields(L).l_G as unknown as { l_registry: TValueLike }).l_registry;
  const seen = new Set<unknown>();
  const stack: TValueLike[] = [registry];
  let bytes = 0;
  while (stack.length > 0 && bytes <= limit) {
    const tv = stack.pop()!;
    const base = tv.type & 0x0f;
    if (base !== T_STRING && base !== T_TABLE && base !== T_FUNCTION) continue;
    if (seen.has(tv.value)) continue;
    seen.add(tv.value);
    if (base === T_STRING) {
      bytes += (tv.value as { realstring: Uint8Array }).realstring.length + 32;
    } else if (base === T_TABLE) {
      const t = tv.value as TableLike;
      bytes += 56 + 80 * t.strong.size;
      if (t.metatable !== null) stack.push({ type: T_TABLE, value: t.metatable });
      for (const e of t.strong.values()) {
        stack.push(e.key, e.value);
      }
    } else {
      const f = tv.value as { upvals?: TValueLike[]; upvalue?: TValueLike[] };
      for (const up of f.upvals ?? f.upvalue ?? []) if (up) stack.push(up);
    }
  }
  return bytes;
}
