import type { AuditStore } from '../audit/store.ts';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import { expandMacro } from '../msys/macro.ts';
import type { SessionState } from '../msys/session-state.ts';
import type { WarnOnce } from '../semantics/audit-query.ts';
import type { Arg, StringArg } from './ast.ts';
import { SieveRuntimeError } from './errors.ts';
import type { SievePhase } from './config.ts';

/** A Sieve++ value: a string, a number literal, a string list or a hash. */
export type SieveHash = Map<string, Value>;
export type Value = string | number | readonly string[] | SieveHash;

/** Bounds on what a script can build without loops: no string or hash grows past these. */
export const MAX_STRING = 64 * 1024;
export const MAX_HASH_KEYS = 1024;
export const MAX_LIST = 1024;

/** What every run of a generation's Sieve scripts shares. */
export interface SieveEnv {
  readonly store: AuditStore;
  readonly clock: Clock;
  readonly warnOnce: WarnOnce;
}

/**
 * One run of one script for one phase. Variables live for the run: each
 * phase starts with none (docs/sieve.md).
 */
export class Run {
  readonly vars = new Map<string, Value>();
  /** Set by stop and by the terminal actions: nothing more runs in this script. */
  done = false;
  /** Set by the terminal actions: later scripts of the phase do not run either. */
  terminal = false;

  constructor(
    readonly env: SieveEnv,
    readonly state: SessionState,
    readonly phase: SievePhase,
    readonly file: string,
    readonly log: () => Logger,
  ) {}

  get nowSeconds(): number {
    return Math.floor(this.env.clock.now() / 1000);
  }
}

export function evalArg(rt: Run, a: Arg): Value {
  switch (a.kind) {
    case 'string':
      return interpolate(rt, a);
    case 'number':
      return a.value;
    case 'list':
      return a.items.map((s) => interpolate(rt, s));
    case 'var': {
      const v = rt.vars.get(a.name);
      if (v === undefined) throw new SieveRuntimeError(`variable $${a.name} is not set`);
      return v;
    }
    case 'index': {
      const h = rt.vars.get(a.name);
      if (!(h instanceof Map)) throw new SieveRuntimeError(`$${a.name} is not a hash (use hash_create first)`);
      return h.get(interpolate(rt, a.key)) ?? '';
    }
    case 'tag':
      throw new SieveRuntimeError(`unexpected tag :${a.name}`);
  }
}

/** `${v}` → the variable as text ("" when unset); `%{…}` → the macro expander the Lua side uses. */
export function interpolate(rt: Run, s: StringArg): string {
  if (s.literal) return s.raw;
  let out = '';
  for (const p of s.parts) {
    if ('lit' in p) out += p.lit;
    else if ('var' in p) {
      const v = rt.vars.get(p.var);
      out += v === undefined ? '' : asText(v);
    } else out += expandMacro(p.macro, rt.state, rt.nowSeconds);
    if (out.length > MAX_STRING) throw new SieveRuntimeError(`interpolated string is longer than ${MAX_STRING} characters`);
  }
  return out;
}

/** A value where text is wanted: a list reads as its strings joined by ",", a hash is an error. */
export function asText(v: Value): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (v instanceof Map) throw new SieveRuntimeError('a hash cannot be used as a string');
  return (v as readonly string[]).join(',');
}

export function asList(v: Value): readonly string[] {
  if (typeof v === 'string') return [v];
  if (typeof v === 'number') return [String(v)];
  if (v instanceof Map) throw new SieveRuntimeError('a hash cannot be used as a string list');
  return v as readonly string[];
}

/** A number given as a number or as decimal text. */
export function asNumber(v: Value, what: string): number {
  if (typeof v === 'number') return v;
  const t = asText(v).trim();
  const n = /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : NaN;
  if (Number.isNaN(n)) throw new SieveRuntimeError(`${what} must be a number, got ${JSON.stringify(t.slice(0, 40))}`);
  return n;
}

/** Hash values are read as strings or numbers (spec §9.2: "Hash values may be given as strings or numbers"). */
export function hashScalar(h: SieveHash, key: string): string | number | undefined {
  const v = h.get(key);
  if (v === undefined) return undefined;
  if (typeof v === 'number') return v;
  return asText(v);
}
