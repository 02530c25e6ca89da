import { prepareFormat } from './compat.ts';
import { analysePattern, replacementRefs, type PatternShape, type ReplacementRefs } from './dialect.ts';
import { lauxlib, lua, to_luastring, type LuaState } from './fengari.ts';
import { raiseAtScript, type BudgetGuard } from './budget.ts';

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
    const s = lauxlib.luaL_checklstring(L1, 1);
    const n = lauxlib.luaL_checkinteger(L1, 2);
    const sep = lauxlib.luaL_optlstring(L1, 3, '');
    if (n <= 0) return rep(L1);
    const total = n * s.length + (n - 1) * sep.length;
    checkSize(L1, 'string.rep', total, maxBytes);
    lua.lua_pushstring(L1, repeatBytes(s, n, sep, total));
    return 1;
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

/**
 * string.rep by doubling copies: Fengari's copies one unit per step, which for
 * rep("x", 1e6) is a million calls (~70 ms, all inside one instruction where
 * no budget check can run). This is a few copyWithin calls.
 */
function repeatBytes(s: Uint8Array, n: number, sep: Uint8Array, total: number): Uint8Array {
  const out = new Uint8Array(total);
  const unit = s.length + sep.length;
  out.set(s, 0);
  if (n > 1 && sep.length > 0) out.set(sep, s.length);
  let filled = n > 1 ? unit : s.length;
  // The first `filled` bytes are whole units (string + separator); double them until one copy is left.
  while (filled < total) {
    const len = Math.min(filled, total - filled);
    out.copyWithin(filled, 0, len);
    filled += len;
  }
  return out;
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
