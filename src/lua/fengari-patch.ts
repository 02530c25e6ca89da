/**
 * Source patches applied to fengari's own files as they load, for speed and
 * one correctness bug. Fengari 0.1.5 is the last release and unmaintained;
 * these are the paths that cost the SMTP throughput work (issue 4) most:
 *
 * - Popping the Lua stack uses `delete L.stack[i]`. A delete turns the stack
 *   array into a dictionary in V8, so every later stack access, in every
 *   opcode, is a hash lookup. Assigning `undefined` instead reads the same
 *   (a popped slot is `undefined` either way; nothing enumerates the stack)
 *   and keeps the array fast. Measured: main-thread time per SMTP session with
 *   the example policies fell from 1.26 to 0.94 ms.
 * - lua_getfield/lua_setfield/lua_getglobal with a JS string name convert,
 *   copy and hash the name on every call (0.45 µs; most of an msys option
 *   read). Names given as JS strings now keep one Lua string each (up to 1024
 *   names, as host code uses a fixed set), so the key is made once: 0.13 µs.
 * - A string's table key (luaS_hash) is built by appending each byte's hex
 *   digits one at a time. That is slow, and it is not injective: bytes 01 23
 *   and 12 03 both give "|123", so two different strings could address the
 *   same table slot. One character per byte is exact, and twice as fast.
 *
 * Patching at load time rather than vendoring keeps the published package as
 * the dependency; patching in memory rather than in node_modules works however
 * the package was installed (also with --ignore-scripts). Each patch states how
 * many times it must match in its file; if fengari's source differs from what
 * the patch was written for, that file loads unpatched (still correct, only
 * slower) and fengariPatchReport() says so, which `moonwatch serve` logs and a
 * test checks against the installed version.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, sep } from 'node:path';

interface SourcePatch {
  readonly file: string;
  readonly what: string;
  readonly find: RegExp;
  readonly replace: string;
  /** Matches expected in fengari 0.1.5's file. */
  readonly expect: number;
}

const STACK_DELETE = /delete ((?:L|from)\.stack\[[^\]\n]+\]);/g;
const stackPatch = (file: string, expect: number): SourcePatch => ({
  file,
  what: 'pop stack slots by assignment, not delete',
  find: STACK_DELETE,
  replace: '$1 = undefined;',
  expect,
});

const PATCHES: readonly SourcePatch[] = [
  stackPatch('lapi.js', 18),
  stackPatch('ldebug.js', 1),
  stackPatch('ldo.js', 5),
  stackPatch('lparser.js', 1),
  stackPatch('ltm.js', 1),
  stackPatch('lvm.js', 3),
  {
    file: 'lapi.js',
    what: 'field names given as JS strings: one Lua string each',
    find: /let str = luaS_new\(L, from_userstring\(k\)\);/g,
    replace: 'let str = fieldName(L, k);',
    expect: 2,
  },
  {
    file: 'lapi.js',
    what: 'field name cache',
    find: /^const auxsetstr = function/gm,
    replace: `const fieldNames = new Map();
const fieldName = function(L, k) {
    if (typeof k !== "string") return luaS_new(L, from_userstring(k));
    let ts = fieldNames.get(k);
    if (ts === undefined) {
        ts = luaS_bless(L, to_luastring(k));
        if (fieldNames.size < 1024) fieldNames.set(k, ts);
    }
    return ts;
};
const auxsetstr = function`,
    expect: 1,
  },
  {
    file: 'lstring.js',
    what: 'string table keys: one latin1 character per byte',
    find: /s \+= str\[i\]\.toString\(16\);/g,
    replace: 's += String.fromCharCode(str[i]);',
    expect: 1,
  },
];

export interface FengariPatchReport {
  /** "file: what" for every patch applied. */
  readonly applied: readonly string[];
  /** "file: what (found N, expected M)" for every file left unpatched. */
  readonly skipped: readonly string[];
}

// Module state on purpose: fengari is loaded once per process, and this records how.
const applied: string[] = [];
const skipped: string[] = [];

export function fengariPatchReport(): FengariPatchReport {
  return { applied: [...applied], skipped: [...skipped] };
}

/** Patches one file's source; all of a file's patches apply, or none. */
export function patchSource(file: string, source: string): { source: string; applied: string[]; skipped: string[] } {
  let out = source;
  const done: string[] = [];
  for (const p of PATCHES) {
    if (p.file !== file) continue;
    const found = source.match(p.find)?.length ?? 0;
    if (found !== p.expect) return { source, applied: [], skipped: [`${file}: ${p.what} (found ${found}, expected ${p.expect})`] };
    out = out.replace(p.find, p.replace);
    done.push(`${file}: ${p.what}`);
  }
  return { source: out, applied: done, skipped: [] };
}

interface CjsModule {
  _compile(source: string, filename: string): void;
}
type Loader = (module: CjsModule, filename: string) => void;

/** require('fengari') with the patches applied to its source files. */
export function requirePatchedFengari(require: NodeJS.Require): unknown {
  const srcDir = join(dirname(require.resolve('fengari/package.json')), 'src') + sep;
  // Something loaded fengari before us (it is cached): it runs unpatched, and the report says so.
  if (require.cache[require.resolve('fengari')] !== undefined) {
    skipped.push('fengari: already loaded before moonwatch could patch it');
    return require('fengari');
  }
  const Module = createRequire(import.meta.url)('node:module') as { _extensions: Record<string, Loader> };
  const original = Module._extensions['.js']!;
  Module._extensions['.js'] = function (module, filename) {
    if (!filename.startsWith(srcDir)) return original.call(this, module, filename);
    const result = patchSource(basename(filename), readFileSync(filename, 'utf8'));
    applied.push(...result.applied);
    skipped.push(...result.skipped);
    module._compile(result.source, filename);
  };
  try {
    return require('fengari');
  } finally {
    Module._extensions['.js'] = original;
  }
}
