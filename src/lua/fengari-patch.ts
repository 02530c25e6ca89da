/**
 * Source patches applied to fengari's own files as they load. Fengari 0.1.5 is
 * the last release and unmaintained; docs/runtime.md says why moonwatch patches
 * it in memory rather than vendoring or forking it, and lists every patch.
 *
 * Patches are of two kinds:
 *
 * - required: correctness and containment. Without them a script can hang
 *   the server (the count hook lost after pcall in a coroutine), read the
 *   wrong table slot (string keys that collide), wrap counters at 32 bits, or
 *   escape the step, time and allocation meters. If one does not apply,
 *   loading fails with FengariUnsupportedError naming the version found, and
 *   moonwatch refuses to run.
 * - speed: the paths that cost the SMTP throughput work (issue 4) most. If
 *   one does not apply, that patch is skipped (correct, only slower) and
 *   fengariPatchReport() says so; every entry point logs it as a warning.
 *
 * Each patch states how many times its pattern must match in fengari 0.1.5's
 * file; a patch made of several steps applies all of them or none.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, sep } from 'node:path';
import { MoonwatchError } from '../errors.ts';

/** The fengari release the patches were written against (package.json pins it). */
export const FENGARI_VERSION = '0.1.5';

interface Step {
  readonly find: RegExp;
  readonly replace: string;
  /** Matches expected in fengari 0.1.5's file. */
  readonly expect: number;
}

export interface SourcePatch {
  readonly file: string;
  readonly what: string;
  readonly required: boolean;
  readonly steps: readonly Step[];
}

const STACK_DELETE = /delete ((?:L|from)\.stack\[[^\]\n]+\]);/g;
const stackPatch = (file: string, expect: number): SourcePatch => ({
  file,
  what: 'pop stack slots by assignment, not delete',
  required: false,
  steps: [{ find: STACK_DELETE, replace: '$1 = undefined;', expect }],
});

/** An integer result that does not fit 32 bits becomes a float, as every number was in Lua 5.1. */
const widen = (target: string, expr: string) =>
  `{ const mw$r = ${expr}; if ((mw$r | 0) === mw$r) ${target}.setivalue(mw$r); else ${target}.setfltvalue(mw$r); }`;

/**
 * lvm.js's text for a read with a constant key (GETTABUP, GETTABLE, SELF):
 * after `head`, the instruction's remembered entry first (mw$remembered),
 * else the slow path that looks the key up in `obj` and remembers it.
 */
const rememberedRead = (head: string, obj: string, owner: string, self: boolean): string => `${head}
                const mw$v = mw$remembered(i, ${owner});
                if (mw$v !== undefined) {
                    L.stack[ra].setfrom(mw$v);
                    break;
                }
                let rc = RKC(L, base, k, i);
                mw$gettable(L, ${obj}, rc, ra, i, ${self});
`;

export const PATCHES: readonly SourcePatch[] = [
  // ---- required: correctness ----
  {
    file: 'lstring.js',
    what: 'string table keys: one latin1 character per byte',
    required: true,
    // Hex digits appended per byte are not injective: bytes 01 23 and 12 03 both give "|123".
    steps: [{ find: /s \+= str\[i\]\.toString\(16\);/g, replace: 's += String.fromCharCode(str[i]);', expect: 1 }],
  },
  {
    file: 'lapi.js',
    what: 'lua_pcallk keeps the count hook after an error caught inside a coroutine',
    required: true,
    // C Lua's setoah(): replace the saved-allowhook bit. Fengari's `&= ~OAH | allowhook` never
    // sets it, so recovering from an error in a coroutine turned hooks off for good.
    steps: [
      {
        find: /ci\.callstatus &= ~lstate\.CIST_OAH \| L\.allowhook;/g,
        replace: 'ci.callstatus = (ci.callstatus & ~lstate.CIST_OAH) | L.allowhook;',
        expect: 1,
      },
    ],
  },
  {
    file: 'luaconf.js',
    what: 'configuration fixed in the source, not read from FENGARICONF',
    required: true,
    // Integral floats print as "5" (Lua 5.1), and moonwatch never sets or reads the environment.
    steps: [
      {
        find: /^const conf = \(process\.env\.FENGARICONF \? JSON\.parse\(process\.env\.FENGARICONF\) : \{\}\);$/gm,
        replace: 'const conf = { LUA_COMPAT_FLOATSTRING: true };',
        expect: 1,
      },
    ],
  },
  {
    file: 'lvm.js',
    what: 'integer arithmetic widens to float instead of wrapping at 32 bits',
    required: true,
    steps: [
      { find: /L\.stack\[ra\]\.setivalue\(\(op1\.value \+ op2\.value\)\|0\);/g, replace: widen('L.stack[ra]', 'op1.value + op2.value'), expect: 1 },
      { find: /L\.stack\[ra\]\.setivalue\(\(op1\.value - op2\.value\)\|0\);/g, replace: widen('L.stack[ra]', 'op1.value - op2.value'), expect: 1 },
      { find: /L\.stack\[ra\]\.setivalue\(luaV_imul\(op1\.value, op2\.value\)\);/g, replace: widen('L.stack[ra]', 'op1.value * op2.value'), expect: 1 },
      { find: /L\.stack\[ra\]\.setivalue\(\(-op\.value\)\|0\);/g, replace: widen('L.stack[ra]', '-op.value'), expect: 1 },
      {
        find: /L\.stack\[ra\]\.setivalue\(luaV_shiftl\(numberop1, numberop2\)\);/g,
        replace: widen('L.stack[ra]', 'mw$shl(numberop1, numberop2)'),
        expect: 1,
      },
      // An integer for-loop whose index passes 2^31 ends instead of wrapping round forever.
      { find: /let idx = \(L\.stack\[ra\]\.value \+ step\)\|0;/g, replace: 'let idx = L.stack[ra].value + step;', expect: 1 },
      {
        find: /^const NBITS = 32;$/gm,
        replace: `const NBITS = 32;
/* Left shift as Lua 5.1 doubles: 1 << 31 is 2147483648, not -2147483648. */
const mw$shl = function(x, y) {
    if (y < 0 || y >= 53) return luaV_shiftl(x, y);
    return x * Math.pow(2, y);
};`,
        expect: 1,
      },
    ],
  },
  {
    file: 'lobject.js',
    what: 'constant folding and lua_arith widen to float like the VM',
    required: true,
    steps: [
      { find: /case LUA_OPADD: {2}return \(v1 \+ v2\)\|0;/g, replace: 'case LUA_OPADD:  return v1 + v2;', expect: 1 },
      { find: /case LUA_OPSUB: {2}return \(v1 - v2\)\|0;/g, replace: 'case LUA_OPSUB:  return v1 - v2;', expect: 1 },
      { find: /case LUA_OPMUL: {2}return lvm\.luaV_imul\(v1, v2\);/g, replace: 'case LUA_OPMUL:  return v1 * v2;', expect: 1 },
      { find: /case LUA_OPUNM: {2}return \(0 - v1\)\|0;/g, replace: 'case LUA_OPUNM:  return 0 - v1;', expect: 1 },
      {
        find: /case LUA_OPSHL: {2}return lvm\.luaV_shiftl\(v1, v2\);/g,
        replace: 'case LUA_OPSHL:  return (v2 >= 0 && v2 < 53) ? v1 * Math.pow(2, v2) : lvm.luaV_shiftl(v1, v2);',
        expect: 1,
      },
      // intarith's callers store the result with setivalue; widen it there.
      {
        find: /res\.setivalue\(intarith\(L, op, ([^)]*)\)\);/g,
        replace: `{ const mw$r = intarith(L, op, $1); if ((mw$r | 0) === mw$r) res.setivalue(mw$r); else res.setfltvalue(mw$r); }`,
        expect: 2,
      },
    ],
  },
  // ---- required: containment meters (src/lua/meter.ts reads them) ----
  {
    file: 'lstrlib.js',
    what: 'pattern matching counts its steps',
    required: true,
    // Every match() call is one step; a pathological pattern on a long subject makes millions.
    steps: [
      {
        find: /if \(ms\.matchdepth-- === 0\)\n/g,
        replace: `{ const mw$m = ms.L.l_G.mwMeter; if (mw$m !== undefined && --mw$m.steps <= 0) mw$m.onSteps(ms.L); }
    if (ms.matchdepth-- === 0)
`,
        expect: 1,
      },
    ],
  },
  {
    file: 'llex.js',
    what: 'the lexer counts its tokens as steps',
    required: true,
    // Compiling a large chunk is one call to load(); its tokens are what the budget can see.
    steps: [
      {
        find: /const luaX_next = function\(ls\) \{\n/g,
        replace: `const luaX_next = function(ls) {
    { const mw$m = ls.L.l_G.mwMeter; if (mw$m !== undefined && --mw$m.steps <= 0) mw$m.onSteps(ls.L); }
`,
        expect: 1,
      },
    ],
  },
  {
    file: 'lstring.js',
    what: 'string allocation is metered',
    required: true,
    steps: [
      {
        find: /const luaS_bless = function\(L, str\) \{\n {4}lua_assert\(str instanceof Uint8Array\);\n/g,
        replace: `const luaS_bless = function(L, str) {
    lua_assert(str instanceof Uint8Array);
    if (L) { const mw$m = L.l_G.mwMeter; if (mw$m !== undefined && (mw$m.bytes += str.length + 32) >= mw$m.nextCheck) mw$m.onBytes(L); }
`,
        expect: 1,
      },
    ],
  },
  {
    file: 'ltable.js',
    what: 'table growth is metered',
    required: true,
    steps: [
      { find: /this\.flags = ~0;\n/g, replace: 'this.flags = ~0;\n        this.mw = L.l_G.mwMeter;\n', expect: 1 },
      // No thread here to raise on: the count is checked at the next string allocation or hook.
      { find: /const add = function\(t, hash, key, value\) \{\n/g, replace: 'const add = function(t, hash, key, value) {\n    if (t.mw !== undefined) t.mw.bytes += 80;\n', expect: 1 },
    ],
  },
  // ---- speed ----
  stackPatch('lapi.js', 18),
  stackPatch('ldebug.js', 1),
  stackPatch('ldo.js', 5),
  stackPatch('lparser.js', 1),
  stackPatch('ltm.js', 1),
  stackPatch('lvm.js', 3),
  {
    // Fengari yields by throwing, and a JS throw through the interpreter's
    // frames cost 3 to 8 µs, more than the rest of a suspended host call
    // together. When the yielding JS function was called straight from the
    // interpreter of the thread being resumed (no pcall, metamethod or other
    // JS frame between them), the yield can instead return up the stack: the
    // thread is left exactly as the throw would leave it (the same fields
    // lua_yieldk sets), so resuming it is unchanged. Anything nested still throws.
    file: 'lstate.js',
    what: 'yield without throwing: the thread records its nCcalls at resume',
    required: false,
    steps: [{ find: /this\.nCcalls = 0;\n/g, replace: 'this.nCcalls = 0;\n        this.mw$resumeCcalls = -1;\n', expect: 1 }],
  },
  {
    file: 'ldo.js',
    what: 'yield without throwing from a JS function the interpreter called directly',
    required: false,
    steps: [
      {
        find: /const lua_yield = function\(L, n\) \{\n {4}lua_yieldk\(L, n, 0, null\);\n\};/g,
        replace: `const lua_yield = function(L, n) {
    let ci = L.ci;
    if (lvm.mw$yieldReturns === true && L.nny === 0 && L.nCcalls === L.mw$resumeCcalls && !(ci.callstatus & lstate.CIST_LUA) &&
        ci.previous !== null && (ci.previous.callstatus & lstate.CIST_LUA)) {
        lapi.api_checknelems(L, n);
        L.status = LUA_YIELD;
        ci.extra = ci.funcOff;
        ci.c_k = null;
        ci.funcOff = L.top - n - 1;
        ci.func = L.stack[ci.funcOff];
        return -1; /* luaD_precall and the interpreter return up to lua_resume */
    }
    lua_yieldk(L, n, 0, null);
};`,
        expect: 1,
      },
      {
        find: /let n = f\(L\); \/\* do the actual call \*\/\n/g,
        replace: 'let n = f(L); /* do the actual call */\n            if (n === -1 && L.status === LUA_YIELD) return true;\n',
        expect: 1,
      },
      {
        find: /lvm\.luaV_execute\(L\); {2}\/\* execute down to higher C 'boundary' \*\/\n/g,
        replace: "lvm.luaV_execute(L);  /* execute down to higher C 'boundary' */\n            if (L.status === LUA_YIELD) return;\n",
        expect: 1,
      },
      {
        find: /let status = luaD_rawrunprotected\(L, resume, nargs\);\n/g,
        replace: 'L.mw$resumeCcalls = L.nCcalls;\n    let status = luaD_rawrunprotected(L, resume, nargs);\n',
        expect: 1,
      },
      {
        find: /if \(status > LUA_YIELD\) \{ {2}\/\* unrecoverable error\? \*\/\n/g,
        replace: 'if (status === LUA_OK && L.status === LUA_YIELD) status = LUA_YIELD; /* yielded by returning */\n        if (status > LUA_YIELD) {  /* unrecoverable error? */\n',
        expect: 1,
      },
    ],
  },
  {
    file: 'lvm.js',
    what: 'yield without throwing: the interpreter returns when a JS function it called yielded',
    required: false,
    steps: [
      {
        find: /if \(ldo\.luaD_precall\(L, ra, nresults\)\) \{\n/g,
        replace: 'if (ldo.luaD_precall(L, ra, nresults)) {\n                    if (L.status === 1 /* LUA_YIELD */) return;\n',
        expect: 1,
      },
      {
        find: /if \(ldo\.luaD_precall\(L, ra, LUA_MULTRET\)\) \{ \/\/ JS function\n/g,
        replace: 'if (ldo.luaD_precall(L, ra, LUA_MULTRET)) { // JS function\n                    if (L.status === 1 /* LUA_YIELD */) return;\n',
        expect: 1,
      },
      // ldo.js yields by returning only once this file can take it (patches apply file by file).
      { find: /^module\.exports\.luaV_execute {5}= luaV_execute;$/gm, replace: 'module.exports.luaV_execute     = luaV_execute;\nmodule.exports.mw$yieldReturns  = true;', expect: 1 },
    ],
  },
  {
    file: 'lvm.js',
    what: 'the count hook is counted down in the interpreter loop',
    required: false,
    // With the budget's count hook armed, every instruction called luaG_traceexec
    // (too big to inline into luaV_execute) only to decrement the count. The
    // decrement is done here; the call is made when it fires (count reaching
    // 0, as luaG_traceexec decides) or when a line hook is set, exactly as before.
    steps: [
      {
        find: /if \(L\.hookmask & \(LUA_MASKLINE \| LUA_MASKCOUNT\)\) \{\n {12}ldebug\.luaG_traceexec\(L\);\n {8}\}/g,
        replace: `if (L.hookmask & (LUA_MASKLINE | LUA_MASKCOUNT)) {
            if ((L.hookmask & LUA_MASKLINE) || L.hookcount <= 1) ldebug.luaG_traceexec(L);
            else L.hookcount--;
        }`,
        expect: 1,
      },
    ],
  },
  {
    file: 'lvm.js',
    what: 'the interpreter reads a frame\'s closure, constants, base and code once per frame',
    required: false,
    // As C Lua's luaV_execute does: they change only when the frame does, and
    // every change of frame goes through `continue newframe`. Fengari read them
    // again for every instruction. The stack is a JS array that never moves, so
    // base needs no reload after a call (C Lua's Protect).
    steps: [
      {
        find: /let base = ci\.l_base;\n\n {8}let i = ci\.l_code\[ci\.l_savedpc\+\+\];\n/g,
        replace: 'let base = ci.l_base;\n        let mw$code = ci.l_code;\n        for (;;) {\n        let i = mw$code[ci.l_savedpc++];\n',
        expect: 1,
      },
      {
        find: /case OP_EXTRAARG: \{\n {16}throw Error\("invalid opcode"\);\n {12}\}\n {8}\}\n {4}\}\n\};/g,
        replace: 'case OP_EXTRAARG: {\n                throw Error("invalid opcode");\n            }\n        }\n        }\n    }\n};',
        expect: 1,
      },
    ],
  },
  {
    file: 'ltable.js',
    what: 'a table can name the fixed table its reads fall back to',
    required: false,
    // Declared in the constructor so every table keeps one shape; see the lvm.js patch below.
    steps: [{ find: /this\.metatable = null;\n/g, replace: 'this.metatable = null;\n        this.mw$index = void 0;\n', expect: 1 }],
  },
  {
    file: 'ltable.js',
    what: 'the map of deleted keys is made when a key is first deleted',
    required: false,
    // Every table made two Maps, the second only for `next` to step past keys
    // deleted during a traversal. Most tables (option tables such as
    // { startv = 0, endv = 4 }, each module's per-session self) never delete a
    // key: one Map each is about 0.15 KB less garbage per table.
    steps: [
      { find: /this\.dead_strong = new Map\(\);/g, replace: 'this.dead_strong = void 0;', expect: 1 },
      { find: /t\.dead_strong\.clear\(\);/g, replace: 't.dead_strong = void 0;', expect: 1 },
      { find: /t\.dead_strong\.set\(hash, e\);/g, replace: '(t.dead_strong === void 0 ? (t.dead_strong = new Map()) : t.dead_strong).set(hash, e);', expect: 1 },
      { find: /\|\| table\.dead_strong\.get\(hash\);/g, replace: '|| (table.dead_strong !== void 0 && table.dead_strong.get(hash));', expect: 1 },
    ],
  },
  {
    file: 'lvm.js',
    what: 'a protected table\'s read goes to its backing table without a metamethod lookup',
    required: false,
    // protect.ts moves a library's entries into a backing table behind a
    // metatable whose __index no script can see or change, so `msys.audit.x`
    // cost three misses and three metatable lookups. It sets mw$index to that
    // same backing table, which has no metatable: a miss reads it directly,
    // exactly what the __index lookup would have found.
    steps: [
      {
        find: /\} else \{ \/\* 't' is a table \*\/\n {16}tm = ltm\.fasttm\(L, t\.value\.metatable, ltm\.TMS\.TM_INDEX\);/g,
        replace: `} else { /* 't' is a table */
                const mw$index = t.value.mw$index;
                if (mw$index !== undefined) {
                    lobject.setobj2s(L, ra, ltable.luaH_get(L, mw$index, key));
                    return;
                }
                tm = ltm.fasttm(L, t.value.metatable, ltm.TMS.TM_INDEX);`,
        expect: 1,
      },
    ],
  },
  {
    file: 'lobject.js',
    what: 'a full userdata\'s JS object is an ordinary object without a prototype chain to Object',
    required: false,
    // Object.create(null) makes a dictionary-mode object in V8: about 750 ns to
    // make and 70 ns a property read, against 300 ns and 25 ns for an object
    // made by a constructor. A session makes its ac, vctx and msg this way and
    // every method call reads its self's tag. The prototype is still an empty
    // null-prototype object, so no key is inherited from Object.prototype.
    steps: [
      {
        find: /^class Udata \{\n\n {4}constructor\(L, size\) \{\n/gm,
        replace: 'function MwUdataData() {}\nMwUdataData.prototype = Object.create(null);\n\nclass Udata {\n\n    constructor(L, size) {\n',
        expect: 1,
      },
      { find: /this\.data = Object\.create\(null\); \/\/ ignores size argument/g, replace: 'this.data = new MwUdataData(); // ignores size argument', expect: 1 },
    ],
  },
  {
    file: 'lapi.js',
    what: 'field names given as JS strings: one Lua string each',
    required: false,
    // Converting, copying and hashing the name on every lua_getfield cost 0.45 µs; cached: 0.13 µs.
    steps: [
      { find: /let str = luaS_new\(L, from_userstring\(k\)\);/g, replace: 'let str = fieldName(L, k);', expect: 2 },
      {
        find: /^const auxsetstr = function/gm,
        replace: `const fieldNames = new Map();
const fieldName = function(L, k) {
    if (typeof k !== "string") return luaS_new(L, from_userstring(k));
    let ts = fieldNames.get(k);
    if (ts === undefined) {
        ts = luaS_bless(L, to_luastring(k));
        ts.mw$t = null; // shared by every Lua state: must not hold one state's table (ltable.js)
        if (fieldNames.size < 1024) fieldNames.set(k, ts);
    }
    return ts;
};
const auxsetstr = function`,
        expect: 1,
      },
    ],
  },
  {
    // Host functions read their option tables ({ startv = 0, endv = 4 }) a
    // field at a time: lua_getfield pushes a new value, then lua_type,
    // lua_tonumber and lua_pop each find it again. For a table without a
    // metatable, where a raw read is what lua_getfield gives, mw$fieldValue
    // returns the field's value in place (src/lua/vm-internals.ts
    // optionValue); with a metatable it returns undefined and the caller
    // uses lua_getfield.
    file: 'lapi.js',
    what: 'an option field read in place',
    required: false,
    steps: [
      {
        find: /^module\.exports\.lua_getfield {10}= lua_getfield;$/gm,
        replace: `module.exports.lua_getfield          = lua_getfield;
module.exports.mw$fieldValue = function(L, idx, k) {
    const o = index2addr(L, idx);
    if (!o.ttistable() || o.value.metatable !== null) return undefined;
    return ltable.luaH_getstr(o.value, typeof fieldName === "function" ? fieldName(L, k) : luaS_new(L, from_userstring(k)));
};`,
        expect: 1,
      },
    ],
  },
  {
    file: 'lua.js',
    what: 'an option field read in place: exported',
    required: false,
    steps: [
      {
        find: /^module\.exports\.lua_getfield {12}= lapi\.lua_getfield;$/gm,
        replace: 'module.exports.lua_getfield            = lapi.lua_getfield;\nmodule.exports.mw$fieldValue           = lapi.mw$fieldValue;',
        expect: 1,
      },
    ],
  },
  {
    // C Lua keeps a thread's CallInfo list and reuses an entry per call depth;
    // fengari makes a new CallInfo for every call and drops it on return,
    // about 3 KB per session of the five-phase policy. precall sets every
    // field a call reads (callstatus, func, funcOff, top, nresults, and the
    // l_* fields of a Lua call); the continuation fields are only read under
    // the callstatus bits or the yield that set them, as in C Lua.
    file: 'lstate.js',
    what: 'reuse CallInfo entries',
    required: false,
    steps: [
      {
        find: /const luaE_extendCI = function\(L\) \{\n {4}let ci = new CallInfo\(\);\n/g,
        replace: 'const luaE_extendCI = function(L) {\n    let ci = L.ci.next;\n    if (ci !== null) {\n        L.ci = ci;\n        return ci;\n    }\n    ci = new CallInfo();\n',
        expect: 1,
      },
    ],
  },
  {
    file: 'ldo.js',
    what: 'reuse CallInfo entries: a return keeps the next entry',
    required: false,
    steps: [{ find: /L\.ci = ci\.previous;\n {4}L\.ci\.next = null;\n/g, replace: 'L.ci = ci.previous;\n', expect: 1 }],
  },
  {
    // Host functions read their string arguments as JS strings, and most are
    // the same Lua string every call (a constant in the script: "60,10",
    // "/24", "SMTP"). Lua strings never change, so each keeps the JS string
    // it was first read as: one UTF-8 decode per string instead of one per read.
    file: 'lstring.js',
    what: 'a Lua string keeps the JS string it was read as',
    required: false,
    steps: [{ find: /this\.realstring = str;\n/g, replace: 'this.realstring = str;\n        this.mw$js = undefined;\n', expect: 1 }],
  },
  {
    // A table read with a string key is a Map lookup by a string made from the
    // key's bytes. Most reads use the same Lua string on the same table every
    // time (a constant in a script: `msys`, `core`, `VALIDATE_CONT`, a method
    // name), so each Lua string remembers the table entry it last found: the
    // next read of that table with it checks the entry is still live (a delete
    // empties its value; a later set makes a new entry, an overwrite changes
    // the value in place) instead of looking it up. C Lua caches nothing here,
    // but its short strings are interned and compared by address.
    //
    // Only tables the host marks (mw$ic: the globals, the libraries' backing
    // tables, userdata methods and metatables; vm-internals.ts) are
    // remembered. They live as long as their generation; a script's own table
    // remembered by a string would stay alive after the script dropped it,
    // unseen by the retention meter, which walks only what the registry
    // reaches.
    file: 'lstring.js',
    what: 'a Lua string remembers the table entry it last found',
    required: false,
    steps: [{ find: /this\.realstring = str;\n/g, replace: 'this.realstring = str;\n        this.mw$t = undefined;\n        this.mw$e = undefined;\n', expect: 1 }],
  },
  {
    file: 'ltable.js',
    what: 'a Lua string remembers the table entry it last found: the read',
    required: false,
    steps: [
      { find: /this\.metatable = null;\n/g, replace: 'this.metatable = null;\n        this.mw$ic = false;\n', expect: 1 },
      {
        find: /^const luaH_get = function\(L, t, key\) \{\n {4}lua_assert\(key instanceof lobject\.TValue\);\n/gm,
        replace: `const mw$getstr = function(t, ts) {
    if (ts.mw$t === t) {
        const v = ts.mw$e.value;
        if (v !== undefined) return v;
    }
    const e = t.strong.get(luaS_hashlongstr(ts));
    if (e === undefined) return lobject.luaO_nilobject;
    // null: a string shared by every Lua state in the process (lapi's field names) never holds a table.
    if (t.mw$ic && ts.mw$t !== null) {
        ts.mw$t = t;
        ts.mw$e = e;
    }
    return e.value;
};

const luaH_get = function(L, t, key) {
    lua_assert(key instanceof lobject.TValue);
    if (key.type === LUA_TSHRSTR || key.type === LUA_TLNGSTR) return mw$getstr(t, key.value);
`,
        expect: 1,
      },
      { find: /return getgeneric\(t, luaS_hashlongstr\(key\)\);/g, replace: 'return mw$getstr(t, key);', expect: 1 },
    ],
  },
  {
    // Each instruction that reads a table with a constant string key
    // (`msys.core.VALIDATE_CONT` is three: _ENV.msys, .core, .VALIDATE_CONT;
    // `vctx:get` one) remembers the table and entry it last found, so the next
    // run of that instruction on the same table reads the entry without
    // touching the key's constant, its string or the remembered-string fields
    // (above). Inside `moonwatch serve` these reads run with cold caches, and
    // every object they touch is a likely miss. Only the host's marked tables
    // (mw$ic) are remembered, as for strings; also a library proxy that is
    // still empty (its reads go to its backing table, see mw$index) and a
    // userdata whose metatable's __index is a marked table (its methods). The
    // fields are declared in every instruction so they keep one shape.
    file: 'lopcodes.js',
    what: 'an instruction remembers the table entry it last read',
    required: false,
    steps: [
      {
        find: /( {12}sBx: {4}\(\(ins >> POS_Bx\) & MASK1\(SIZE_Bx, 0\)\) - MAXARG_sBx)\n {8}\};/g,
        replace: '$1,\n            mw$t:   null,\n            mw$e:   null,\n            mw$p:   0\n        };',
        expect: 1,
      },
    ],
  },
  {
    file: 'lundump.js',
    what: 'an instruction remembers the table entry it last read: instructions of binary chunks',
    required: false,
    steps: [
      {
        find: /( {16}sBx: {4}\(\(ins >> POS_Bx\) & p\.MASK1\(SIZE_Bx, 0\)\) - MAXARG_sBx)\n {12}\};/g,
        replace: '$1,\n                mw$t:   null,\n                mw$e:   null,\n                mw$p:   0\n            };',
        expect: 1,
      },
    ],
  },
  {
    // mw$p: 0 the table itself, 1 an empty library proxy (mw$t) read through
    // to its backing table, 2 a userdata's metatable (mw$t) whose __index
    // table holds the entry. An entry whose key was deleted has no value; a
    // key set again gets a new entry: both are misses, and the slow path
    // remembers afresh. `== null` also covers an instruction made without
    // the fields (lopcodes.js or lundump.js unpatched).
    file: 'lvm.js',
    what: 'an instruction remembers the table entry it last read: the reads',
    required: false,
    steps: [
      {
        find: /case OP_GETTABUP: \{\n {16}let upval = cl\.upvals\[i\.B\];\n {16}let rc = RKC\(L, base, k, i\);\n {16}luaV_gettable\(L, upval, rc, ra\);\n/g,
        replace: rememberedRead('case OP_GETTABUP: {\n                let upval = cl.upvals[i.B];', 'upval', 'upval.value', false),
        expect: 1,
      },
      {
        find: /case OP_GETTABLE: \{\n {16}let rb = L\.stack\[RB\(L, base, i\)\];\n {16}let rc = RKC\(L, base, k, i\);\n {16}luaV_gettable\(L, rb, rc, ra\);\n/g,
        replace: rememberedRead('case OP_GETTABLE: {\n                let rb = L.stack[RB(L, base, i)];', 'rb', 'rb.value', false),
        expect: 1,
      },
      {
        find: /case OP_SELF: \{\n {16}let rb = RB\(L, base, i\);\n {16}let rc = RKC\(L, base, k, i\);\n {16}lobject\.setobjs2s\(L, ra \+ 1, rb\);\n {16}luaV_gettable\(L, L\.stack\[rb\], rc, ra\);\n/g,
        replace: rememberedRead(
          'case OP_SELF: {\n                let rb = RB(L, base, i);\n                lobject.setobjs2s(L, ra + 1, rb);\n                const mw$o = L.stack[rb];',
          'mw$o',
          'i.mw$p !== 2 ? mw$o.value : mw$o.type === LUA_TUSERDATA ? mw$o.value.metatable : null',
          true,
        ),
        expect: 1,
      },
      {
        find: /^const luaV_gettable = function\(L, t, key, ra\) \{\n/gm,
        replace: `/* The value instruction i remembered, if it read it from owner and the entry is still live; an empty proxy (mw$p 1) must still be empty. */
const mw$remembered = function(i, owner) {
    const e = i.mw$e;
    if (e == null || owner !== i.mw$t) return undefined;
    const v = e.value;
    return v !== undefined && (i.mw$p !== 1 || owner.strong.size === 0) ? v : undefined;
};

/* The slow path of a read with a constant key: remembers what it found in the instruction (lopcodes.js patch).
   A userdata's methods only for OP_SELF, whose check of mw$p 2 compares the userdata's metatable. */
const mw$gettable = function(L, t, key, ra, i, self) {
    if (ISK(i.C) && (key.type === LUA_TSHRSTR || key.type === LUA_TLNGSTR)) {
        let owner = null, h = null, p = 0;
        if (t.type === LUA_TTABLE) {
            const tv = t.value;
            if (tv.mw$ic) {
                owner = h = tv;
            } else if (tv.mw$index !== undefined && tv.mw$index.mw$ic && tv.strong.size === 0) {
                owner = tv;
                h = tv.mw$index;
                p = 1;
            }
        } else if (self && t.type === LUA_TUSERDATA) {
            const mt = t.value.metatable;
            if (mt !== null && mt.mw$ic) {
                const idx = ltable.luaH_getstr(mt, L.l_G.tmname[ltm.TMS.TM_INDEX]);
                if (idx.type === LUA_TTABLE && idx.value.mw$ic) {
                    owner = mt;
                    h = idx.value;
                    p = 2;
                }
            }
        }
        if (h !== null) {
            const e = h.strong.get(luaS_hashlongstr(key.value));
            if (e !== undefined) {
                i.mw$t = owner;
                i.mw$e = e;
                i.mw$p = p;
                L.stack[ra].setfrom(e.value);
                return;
            }
        }
    }
    luaV_gettable(L, t, key, ra);
};

const luaV_gettable = function(L, t, key, ra) {
`,
        expect: 1,
      },
    ],
  },
  {
    // Host functions hand their results to scripts as JS strings (an
    // address, a context value, __tostring's text), and every one is encoded
    // to UTF-8 bytes: fengari built a JS array of the bytes, then copied it
    // into a Uint8Array. An ASCII string (the usual case) is written straight
    // into its Uint8Array instead; any other falls back to the loop as before.
    file: 'defs.js',
    what: 'an ASCII JS string becomes Lua bytes in one pass',
    required: false,
    steps: [
      {
        find: /( {4}let len = str\.length;\n)( {4}let outU8Array = Array\(len\);)/g,
        replace: `$1    mw$ascii: {
        const mw$out = new Uint8Array(len);
        for (let i = 0; i < len; i++) {
            const u = str.charCodeAt(i);
            if (u > 0x7F) break mw$ascii;
            mw$out[i] = u;
        }
        if (cache) to_luastring_cache[str] = mw$out;
        return mw$out;
    }
$2`,
        expect: 1,
      },
    ],
  },
  {
    // tostring(x) asks x's metatable for "__tostring" (and for "__name"),
    // getmetatable for "__metatable", pairs for "__pairs": fengari copied the
    // name into a new Lua string and hashed it on every call. The names are
    // the libraries' constants, so each becomes one Lua string, kept; it is
    // shared by every Lua state, so it never remembers a table (ltable.js).
    file: 'lauxlib.js',
    what: 'metafield names: one Lua string each',
    required: false,
    steps: [
      {
        find: /^const luaL_getmetafield = function\(L, obj, event\) \{\n {4}if \(!lua_getmetatable\(L, obj\)\) {2}\/\* no metatable\? \*\/\n {8}return LUA_TNIL;\n {4}else \{\n {8}lua_pushstring\(L, event\);\n/gm,
        replace: `const mw$lobject = require('./lobject.js');
const mw$events = new Map();
const mw$pushevent = function(L, event) {
    const ts = mw$events.get(event);
    if (ts !== undefined) {
        mw$lobject.pushsvalue2s(L, ts);
        return;
    }
    lua_pushstring(L, event);
    const made = L.stack[L.top - 1].value;
    made.mw$t = null;
    if (mw$events.size < 64) mw$events.set(event, made);
};

const luaL_getmetafield = function(L, obj, event) {
    if (!lua_getmetatable(L, obj))  /* no metatable? */
        return LUA_TNIL;
    else {
        mw$pushevent(L, event);
`,
        expect: 1,
      },
    ],
  },
  {
    file: 'lobject.js',
    what: 'a Lua string keeps the JS string it was read as: the read',
    required: false,
    steps: [
      {
        find: /jsstring\(from, to\) \{\n {8}return to_jsstring\(this\.svalue\(\), from, to, true\);\n/g,
        replace: `jsstring(from, to) {
        if (from === undefined && to === undefined) {
            const ts = this.tsvalue();
            return ts.mw$js === undefined ? (ts.mw$js = to_jsstring(ts.getstr(), from, to, true)) : ts.mw$js;
        }
        return to_jsstring(this.svalue(), from, to, true);
`,
        expect: 1,
      },
    ],
  },
  {
    // Every string a JS function pushes (lua_pushstring: string.lower's
    // result, a __tostring, a context value) is copied into the new Lua
    // string with Uint8Array.from, which walks its source with the iterator
    // protocol and allocates through the runtime: about 1 µs inside `moonwatch
    // serve`. The typed array copy constructor makes the same copy.
    file: 'lstring.js',
    what: 'a pushed string is copied with the typed array copy constructor',
    required: false,
    steps: [
      {
        find: /const luaS_new = function\(L, str\) \{\n {4}return luaS_bless\(L, luastring_from\(str\)\);\n\};/g,
        replace: 'const luaS_new = function(L, str) {\n    return luaS_bless(L, str instanceof Uint8Array ? new Uint8Array(str) : luastring_from(str));\n};',
        expect: 1,
      },
    ],
  },
];

export interface FengariPatchReport {
  /** The fengari version that was loaded. */
  readonly version: string;
  /** "file: what" for every patch applied. */
  readonly applied: readonly string[];
  /** "file: what (found N, expected M)" for every speed patch left out. */
  readonly skipped: readonly string[];
}

/** A required patch did not apply: this fengari is not one moonwatch can run safely. */
export class FengariUnsupportedError extends MoonwatchError {
  constructor(
    readonly version: string,
    readonly failed: readonly string[],
  ) {
    super(
      'MW_ERR_FENGARI_UNSUPPORTED',
      `fengari ${version} is not supported: required patches did not apply (${failed.join('; ')}); ` +
        `moonwatch needs fengari ${FENGARI_VERSION} exactly (npm install fengari@${FENGARI_VERSION})`,
    );
  }
}

/**
 * Moves an object that V8 keeps in dictionary mode to fast properties. Fengari's
 * files reach each other's functions through their exports objects
 * (`lobject.setobjs2s(...)` in every MOVE), and V8 had put some of them in
 * dictionary mode (lobject.js and lapi.js among them; why is V8's business:
 * lobject.js has 24 exports): each such read was then a hash lookup through
 * the generic load IC, and the optimiser could neither treat the function as a
 * constant nor inline it. V8 turns an object into fast mode once it is used as
 * a prototype and a property is read through it (JSObject::MakePrototypesFast);
 * the object's own properties and behaviour are unchanged.
 */
export function withFastProperties(obj: object): void {
  function Holder(): void {}
  Holder.prototype = obj;
  const receiver = new (Holder as unknown as new () => { mw$probe?: unknown })();
  const read = (): unknown => receiver.mw$probe;
  // V8 gives a function its inline caches only after several calls, and the
  // move happens on a cache miss through the prototype: read until one has.
  for (let i = 0; i < 16; i++) read();
}

/** Applies one file's patches; each patch applies whole or not at all. */
export function patchSource(
  file: string,
  source: string,
  patches: readonly SourcePatch[] = PATCHES,
): { source: string; applied: string[]; skipped: string[]; failed: string[] } {
  let out = source;
  const applied: string[] = [];
  const skipped: string[] = [];
  const failed: string[] = [];
  for (const p of patches) {
    if (p.file !== file) continue;
    const mismatch = p.steps.map((s) => ({ s, found: out.match(s.find)?.length ?? 0 })).find((x) => x.found !== x.s.expect);
    if (mismatch !== undefined) {
      const why = `${file}: ${p.what} (found ${mismatch.found}, expected ${mismatch.s.expect})`;
      (p.required ? failed : skipped).push(why);
      continue;
    }
    for (const s of p.steps) out = out.replace(s.find, s.replace);
    applied.push(`${file}: ${p.what}`);
  }
  return { source: out, applied, skipped, failed };
}

interface CjsModule {
  _compile(source: string, filename: string): void;
}
type Loader = (module: CjsModule, filename: string) => void;

export interface PatchedFengari {
  readonly exports: unknown;
  readonly report: FengariPatchReport;
}

/**
 * Loads a private, patched copy of fengari. Its files are compiled from
 * patched source and then dropped from the require cache (any copy that was
 * cached before is put back), so other code in the process that requires
 * fengari gets the published, unpatched package. Throws
 * FengariUnsupportedError when a required patch does not apply.
 */
export function loadPatchedFengari(require: NodeJS.Require, patches: readonly SourcePatch[] = PATCHES): PatchedFengari {
  const pkgFile = require.resolve('fengari/package.json');
  const version = String((JSON.parse(readFileSync(pkgFile, 'utf8')) as { version?: unknown }).version);
  const srcDir = join(dirname(pkgFile), 'src') + sep;
  const ours = (id: string) => id.startsWith(srcDir);
  const saved = new Map(Object.entries(require.cache).filter(([id]) => ours(id)));
  for (const id of saved.keys()) delete require.cache[id];

  const applied: string[] = [];
  const skipped: string[] = [];
  const failed: string[] = [];
  const Module = createRequire(import.meta.url)('node:module') as { _extensions: Record<string, Loader> };
  const original = Module._extensions['.js']!;
  Module._extensions['.js'] = function (module, filename) {
    if (!ours(filename)) return original.call(this, module, filename);
    const result = patchSource(basename(filename), readFileSync(filename, 'utf8'), patches);
    applied.push(...result.applied);
    skipped.push(...result.skipped);
    failed.push(...result.failed);
    module._compile(result.source, filename);
  };
  let exports: unknown;
  try {
    exports = require('fengari');
    for (const id of Object.keys(require.cache)) if (ours(id)) withFastProperties(require.cache[id]!.exports as object);
  } finally {
    Module._extensions['.js'] = original;
    for (const id of Object.keys(require.cache)) if (ours(id)) delete require.cache[id];
    for (const [id, m] of saved) require.cache[id] = m;
  }
  // A file no patch was written for, or one that was never loaded, leaves its patches unapplied.
  const seen = new Set([...applied, ...skipped, ...failed].map((s) => s.slice(0, s.indexOf(':'))));
  for (const p of patches) {
    if (seen.has(p.file)) continue;
    (p.required ? failed : skipped).push(`${p.file}: ${p.what} (file not loaded)`);
  }
  if (failed.length > 0) throw new FengariUnsupportedError(version, failed);
  return { exports, report: { version, applied, skipped } };
}
