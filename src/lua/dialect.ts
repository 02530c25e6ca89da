/**
 * Momentum's Lua is 5.1 with a few lexer extensions; Fengari is 5.3. This
 * pre-pass rewrites the differences token by token (strings, long strings and
 * comments are copied untouched apart from escapes) and never adds or removes
 * a line break, so "limits.lua:12:" in an error still points at line 12 of the
 * file the operator wrote.
 *
 *   a != b      → a ~= b
 *   a ^^ b      → a ~  b    (5.3's binary ~ is xor)
 *   a \ b       → a // b    (integer division; floors like 5.3, see below)
 *   "\-"        → "-"       (5.1 keeps the character after an unknown escape)
 *   42          → 42.0      (5.1 numbers are doubles; Fengari's integers are
 *                            32-bit and wrap, so 100000 * 100000 would be
 *                            1410065408 without this)
 *
 * `&`, `|`, `<<`, `>>` and unary `~` are 5.3 syntax already and convert float
 * operands with integral values to integers. Hex literals stay integers: they
 * are bit masks in practice and 0x80000000 must keep fitting Fengari's 32 bits.
 * `\` floors where Momentum truncated, which differs only for negative or
 * fractional operands.
 */
import { isDecimalIntegerToken, isDigit, tokenizeLua } from './lexer.ts';

export function translateMomentum(source: string): string {
  const out: string[] = [];
  let copied = 0; // source[copied, at) is still to be appended verbatim

  const replace = (start: number, end: number, text: string): void => {
    out.push(source.slice(copied, start), text);
    copied = end;
  };

  for (const t of tokenizeLua(source)) {
    if (t.kind === 'number') {
      if (isDecimalIntegerToken(source, t)) replace(t.end, t.end, '.0');
    } else if (t.kind === 'string') {
      translateEscapes(source, t.start, t.end, replace);
    } else if (t.kind === 'symbol') {
      const c = source.charCodeAt(t.start);
      const len = t.end - t.start;
      if (len === 2 && c === BANG) replace(t.start, t.end, '~=');
      else if (len === 2 && c === CARET) replace(t.start, t.end, '~ ');
      else if (c === BACKSLASH) replace(t.start, t.end, '//');
    }
  }
  if (copied === 0) return source;
  out.push(source.slice(copied));
  return out.join('');
}

const MINUS = 45;
const CARET = 94;
const BANG = 33;
const BACKSLASH = 92;
const LF = 10;
const CR = 13;

// 5.3's escapes; anything else after a backslash was the character itself in 5.1.
const KNOWN_ESCAPES = new Set('abfnrtv\\"\'xzu\n\r0123456789'.split('').map((ch) => ch.charCodeAt(0)));

/** Drops the backslash of each escape 5.3 does not know, inside the string token [at, end). */
function translateEscapes(s: string, at: number, end: number, replace: (start: number, end: number, text: string) => void): void {
  for (let j = at + 1; j < end; j++) {
    if (s.charCodeAt(j) !== BACKSLASH) continue;
    const next = s.charCodeAt(j + 1);
    if (Number.isNaN(next)) return;
    if (!KNOWN_ESCAPES.has(next)) replace(j, j + 1, '');
    j += next === CR && s.charCodeAt(j + 2) === LF ? 2 : 1;
  }
}

/* ------------------------------------------------------------------------ *
 * Lua pattern and replacement-string analysis, for bounding string.gsub's
 * result before it is built (see budget.ts). Malformed patterns are not
 * diagnosed here: gsub itself reports them.
 * ------------------------------------------------------------------------ */

export interface PatternShape {
  /** Has at least one capture, so a replacement's %1 is not the whole match. */
  readonly captures: boolean;
  /** Has a "()" position capture, which expands to a number, not to matched text. */
  readonly positionCaptures: boolean;
  /** Fewest bytes any match can consume. */
  readonly minLength: number;
}

const PCT = 37;
const LPAREN = 40;
const RPAREN = 41;
const SET_OPEN = 91;
const SET_CLOSE = 93;

export function analysePattern(p: Uint8Array): PatternShape {
  let captures = false;
  let positionCaptures = false;
  let minLength = 0;
  let i = p[0] === CARET ? 1 : 0;
  while (i < p.length) {
    const c = p[i]!;
    if (c === LPAREN) {
      captures = true;
      if (p[i + 1] === RPAREN) positionCaptures = true;
      i++;
      continue;
    }
    if (c === RPAREN || (c === 36 /* $ */ && i === p.length - 1)) {
      i++;
      continue;
    }
    let end: number;
    if (c === PCT) {
      const next = p[i + 1];
      if (next === 98 /* b */) {
        minLength += 2;
        i += 4;
        continue;
      }
      if (next === 102 /* f */) {
        i = skipSet(p, i + 2) + 1;
        continue;
      }
      if (next !== undefined && isDigit(next)) {
        i += 2; // a back-reference can match the empty string
        continue;
      }
      end = i + 2;
    } else if (c === SET_OPEN) {
      end = skipSet(p, i) + 1;
    } else {
      end = i + 1;
    }
    const q = p[end];
    if (q === 42 /* * */ || q === MINUS || q === 63 /* ? */) {
      i = end + 1;
    } else {
      minLength++;
      i = q === 43 /* + */ ? end + 1 : end;
    }
  }
  return { captures, positionCaptures, minLength };
}

/** `at` is on the '['; returns the index of the closing ']' (as Lua's classEnd reads it). */
function skipSet(p: Uint8Array, at: number): number {
  let i = at + 1;
  if (p[i] === CARET) i++;
  do {
    if (p[i] === PCT) i++;
    i++;
  } while (i < p.length && p[i] !== SET_CLOSE);
  return i;
}

export interface ReplacementRefs {
  /** Capture digits referenced, in order (0 = whole match). */
  readonly digits: readonly number[];
  /** How many of them are %0. */
  readonly zero: number;
  /** Bytes copied literally ("%%" counts as one). */
  readonly literal: number;
}

export function replacementRefs(repl: Uint8Array): ReplacementRefs {
  const digits: number[] = [];
  let literal = 0;
  for (let i = 0; i < repl.length; i++) {
    if (repl[i] !== PCT) {
      literal++;
      continue;
    }
    i++;
    const c = repl[i];
    if (c !== undefined && isDigit(c)) digits.push(c - 48);
    else literal++;
  }
  return { digits, zero: digits.filter((d) => d === 0).length, literal };
}
