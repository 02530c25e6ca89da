import { setFlagsFromString } from 'node:v8';

/**
 * Match types, relations and comparators of ec_test and the RFC 5228 tests
 * (inbound-audit spec §9.7; RFC 5228 §2.7, RFC 5231, RFC 4790).
 */
export const COMPARATORS = ['i;octet', 'i;ascii-casemap', 'i;ascii-numeric'] as const;
export type Comparator = (typeof COMPARATORS)[number];
export const RELATIONS = ['gt', 'ge', 'lt', 'le', 'eq', 'ne', 'bitwise-and'] as const;
export type Relation = (typeof RELATIONS)[number];
export type MatchKind = 'is' | 'contains' | 'matches' | 'regex' | 'value' | 'count';
export const MATCH_TAGS: readonly MatchKind[] = ['is', 'contains', 'matches', 'regex', 'value', 'count'];

export interface Matcher {
  readonly kind: MatchKind;
  readonly relation?: Relation;
  readonly comparator: Comparator;
}

/** Subjects longer than this are matched on their first MAX_SUBJECT characters (:matches, :regex, :contains). */
export const MAX_SUBJECT = 8192;
export const MAX_PATTERN = 1024;

/** What a comparator cannot do is a load-time error (RFC 4790: i;ascii-numeric has no substring or pattern match). */
export function matcherProblem(m: Matcher): string | undefined {
  if (m.comparator === 'i;ascii-numeric' && (m.kind === 'contains' || m.kind === 'matches' || m.kind === 'regex')) {
    return `comparator "i;ascii-numeric" cannot be used with :${m.kind} (only :is, :value and :count)`;
  }
  return undefined;
}

/** RFC 5228 §2.7.1: true when any value matches any key. :count counts the values. */
export function matchAny(m: Matcher, values: readonly string[], keys: readonly string[], regex: (pattern: string) => RegExp): boolean {
  if (m.kind === 'count') {
    const n = String(values.length);
    return keys.some((k) => relate(m.relation!, compare(m.comparator, n, k), n, k));
  }
  for (const v of values) {
    for (const k of keys) {
      if (matchOne(m, v, k, regex)) return true;
    }
  }
  return false;
}

function matchOne(m: Matcher, value: string, key: string, regex: (pattern: string) => RegExp): boolean {
  switch (m.kind) {
    case 'is':
      return compare(m.comparator, value, key) === 0;
    case 'contains':
      return fold(m.comparator, bound(value)).includes(fold(m.comparator, key));
    case 'matches':
      return glob(fold(m.comparator, bound(value)), fold(m.comparator, key));
    case 'regex':
      return regex(key).test(bound(value));
    case 'value':
      return relate(m.relation!, compare(m.comparator, value, key), value, key);
    default:
      return false;
  }
}

function bound(s: string): string {
  return s.length > MAX_SUBJECT ? s.slice(0, MAX_SUBJECT) : s;
}

function fold(c: Comparator, s: string): string {
  return c === 'i;ascii-casemap' ? s.replace(/[A-Z]+/g, (u) => u.toLowerCase()) : s;
}

function relate(rel: Relation, cmp: number, a: string, b: string): boolean {
  switch (rel) {
    case 'gt':
      return cmp > 0;
    case 'ge':
      return cmp >= 0;
    case 'lt':
      return cmp < 0;
    case 'le':
      return cmp <= 0;
    case 'eq':
      return cmp === 0;
    case 'ne':
      return cmp !== 0;
    case 'bitwise-and':
      // Momentum's relation: the leading numbers share a set bit.
      return (leadingInteger(a) & leadingInteger(b)) !== 0n;
  }
}

/** -1, 0 or 1 under the comparator's ordering. */
export function compare(c: Comparator, a: string, b: string): number {
  if (c === 'i;ascii-numeric') return numericCompare(a, b);
  const x = fold(c, a);
  const y = fold(c, b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * RFC 4790 §9.1: the leading digits of each string as a non-negative number;
 * a string that does not start with a digit is positive infinity (equal to
 * every other such string). Arbitrary length, compared as digit strings.
 */
function numericCompare(a: string, b: string): number {
  const x = leadingDigits(a);
  const y = leadingDigits(b);
  if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

function leadingDigits(s: string): string | null {
  const m = /^[0-9]+/.exec(s);
  if (m === null) return null;
  const t = m[0].replace(/^0+(?=.)/, '');
  return t;
}

function leadingInteger(s: string): bigint {
  const d = leadingDigits(s);
  return d === null ? 0n : BigInt(d);
}

/**
 * RFC 5228 :matches: "*" any run, "?" one character, "\" quotes the next.
 * Iterative with a single backtrack point, so the cost is O(value × pattern)
 * at worst, never exponential.
 */
export function glob(value: string, pattern: string): boolean {
  const p: { ch: string; kind: 'lit' | 'one' | 'any' }[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) p.push({ ch: pattern[++i]!, kind: 'lit' });
    else if (c === '*') p.push({ ch: c, kind: 'any' });
    else if (c === '?') p.push({ ch: c, kind: 'one' });
    else p.push({ ch: c, kind: 'lit' });
  }
  let vi = 0;
  let pi = 0;
  let star = -1;
  let mark = 0;
  while (vi < value.length) {
    const t = p[pi];
    if (t !== undefined && (t.kind === 'one' || (t.kind === 'lit' && t.ch === value[vi]))) {
      vi++;
      pi++;
    } else if (t !== undefined && t.kind === 'any') {
      star = pi++;
      mark = vi;
    } else if (star >= 0) {
      pi = star + 1;
      vi = ++mark;
    } else {
      return false;
    }
  }
  while (p[pi]?.kind === 'any') pi++;
  return pi === p.length;
}

let linearEngine: boolean | undefined;

/**
 * :regex patterns run on V8's linear-time engine (the `l` flag), so no pattern
 * and subject can backtrack catastrophically. The engine is behind a V8 flag,
 * switched on the first time a pattern is compiled. Patterns it cannot run in
 * linear time (backreferences, lookaround) are refused.
 */
export function compileRegex(pattern: string, comparator: Comparator): RegExp {
  if (pattern.length > MAX_PATTERN) throw new RegexError(`pattern is longer than ${MAX_PATTERN} characters`);
  if (linearEngine === undefined) {
    setFlagsFromString('--enable-experimental-regexp-engine');
    try {
      linearEngine = new RegExp('a', 'l').test('a');
    } catch {
      linearEngine = false;
    }
  }
  // The linear engine has no `i` flag: i;ascii-casemap spells both cases out instead.
  const casemap = comparator === 'i;ascii-casemap';
  const source = casemap && linearEngine ? bothCases(pattern) : pattern;
  const flags = (casemap && !linearEngine ? 'i' : '') + (linearEngine ? 'l' : '');
  try {
    return new RegExp(source, flags);
  } catch (err) {
    const msg = (err as Error).message.replace(/^Invalid regular expression: /, '');
    if (/linear time/.test(msg)) {
      throw new RegexError('the pattern needs backtracking (a backreference or lookaround), which :regex does not run');
    }
    throw new RegexError(msg);
  }
}

export class RegexError extends Error {}

/** Escapes whose next characters are not pattern letters: \xHH, \uHHHH or \u{…}, \cX, \p{…}, \k<…>. */
const ESCAPE_TAIL = /^(x[0-9A-Fa-f]{2}|u\{[0-9A-Fa-f]+\}|u[0-9A-Fa-f]{4}|c[A-Za-z]|[pP]\{[^}]*\}|k<[^>]*>|[\s\S])/;

/**
 * "ab[c-d]" → "[aA][bB][c-dC-D]": ASCII case-insensitivity written into the
 * pattern. Escapes (\d, \W, \x41 …) are copied as they are.
 */
function bothCases(pattern: string): string {
  const swap = (c: string) => (c >= 'a' && c <= 'z' ? c.toUpperCase() : c >= 'A' && c <= 'Z' ? c.toLowerCase() : c);
  let out = '';
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '\\') {
      const tail = ESCAPE_TAIL.exec(pattern.slice(i + 1))?.[0] ?? '';
      out += c + tail;
      i += 1 + tail.length;
    } else if (c === '[') {
      // A class: its body, then the body again with letters case-swapped.
      let j = i + 1;
      if (pattern[j] === '^') j++;
      if (pattern[j] === ']') j++;
      let body = '';
      let swapped = '';
      while (j < pattern.length && pattern[j] !== ']') {
        if (pattern[j] === '\\') {
          const tail = ESCAPE_TAIL.exec(pattern.slice(j + 1))?.[0] ?? '';
          body += `\\${tail}`;
          swapped += `\\${tail}`;
          j += 1 + tail.length;
        } else {
          body += pattern[j];
          swapped += swap(pattern[j]!);
          j++;
        }
      }
      out += pattern.slice(i, pattern[i + 1] === '^' ? i + 2 : i + 1) + body + (swapped === body ? '' : swapped) + ']';
      i = j + 1;
    } else if (/[A-Za-z]/.test(c)) {
      out += `[${c}${swap(c)}]`;
      i++;
    } else if (c === '(' && pattern[i + 1] === '?' && pattern[i + 2] === '<' && /[A-Za-z]/.test(pattern[i + 3] ?? '')) {
      // A named group's name is not a pattern letter.
      const end = pattern.indexOf('>', i);
      out += pattern.slice(i, end + 1);
      i = end + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}
