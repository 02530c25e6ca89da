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
export function translateMomentum(source: string): string {
  const out: string[] = [];
  const n = source.length;
  let i = 0;
  let copied = 0; // source[copied, i) is still to be appended verbatim

  const replace = (start: number, end: number, text: string): void => {
    out.push(source.slice(copied, start), text);
    copied = end;
  };

  while (i < n) {
    const c = source.charCodeAt(i);
    if (c === MINUS && source.charCodeAt(i + 1) === MINUS) {
      i = skipComment(source, i + 2);
    } else if (c === LBRACKET) {
      const level = longBracketLevel(source, i);
      i = level >= 0 ? skipLongBracket(source, i, level) : i + 1;
    } else if (c === DQUOTE || c === SQUOTE) {
      i = translateShortString(source, i, replace);
    } else if (c === DOT) {
      if (source.charCodeAt(i + 1) === DOT) {
        i += source.charCodeAt(i + 2) === DOT ? 3 : 2;
      } else if (isDigit(source.charCodeAt(i + 1))) {
        i = readNumeral(source, i);
      } else {
        i++;
      }
    } else if (isDigit(c)) {
      const end = readNumeral(source, i);
      if (isDecimalInteger(source, i, end)) replace(end, end, '.0');
      i = end;
    } else if (isIdentStart(c)) {
      i++;
      while (i < n && isIdentPart(source.charCodeAt(i))) i++;
    } else if (c === BANG && source.charCodeAt(i + 1) === EQUALS) {
      replace(i, i + 2, '~=');
      i += 2;
    } else if (c === CARET && source.charCodeAt(i + 1) === CARET) {
      replace(i, i + 2, '~ ');
      i += 2;
    } else if (c === BACKSLASH) {
      replace(i, i + 1, '//');
      i++;
    } else {
      i++;
    }
  }
  if (copied === 0) return source;
  out.push(source.slice(copied));
  return out.join('');
}

const MINUS = 45;
const LBRACKET = 91;
const EQUALS = 61;
const DQUOTE = 34;
const SQUOTE = 39;
const DOT = 46;
const BANG = 33;
const CARET = 94;
const BACKSLASH = 92;
const LF = 10;
const CR = 13;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isHexDigit(c: number): boolean {
  return isDigit(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

function isIdentStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
}

function isIdentPart(c: number): boolean {
  return isIdentStart(c) || isDigit(c);
}

/** Level of a long bracket opening at `at` ("[[" is 0, "[==[" is 2), or -1. */
function longBracketLevel(s: string, at: number): number {
  let j = at + 1;
  while (s.charCodeAt(j) === EQUALS) j++;
  return s.charCodeAt(j) === LBRACKET ? j - at - 1 : -1;
}

/** Index just past the long bracket that opens at `at`; end of input if unclosed. */
function skipLongBracket(s: string, at: number, level: number): number {
  const close = ']' + '='.repeat(level) + ']';
  const end = s.indexOf(close, at + level + 2);
  return end < 0 ? s.length : end + close.length;
}

/** `at` is just past "--". */
function skipComment(s: string, at: number): number {
  if (s.charCodeAt(at) === LBRACKET) {
    const level = longBracketLevel(s, at);
    if (level >= 0) return skipLongBracket(s, at, level);
  }
  let j = at;
  while (j < s.length && s.charCodeAt(j) !== LF && s.charCodeAt(j) !== CR) j++;
  return j;
}

// 5.3's escapes; anything else after a backslash was the character itself in 5.1.
const KNOWN_ESCAPES = new Set('abfnrtv\\"\'xzu\n\r0123456789'.split('').map((ch) => ch.charCodeAt(0)));

function translateShortString(s: string, at: number, replace: (start: number, end: number, text: string) => void): number {
  const quote = s.charCodeAt(at);
  let j = at + 1;
  while (j < s.length) {
    const c = s.charCodeAt(j);
    if (c === quote) return j + 1;
    if (c === LF || c === CR) return j; // unfinished string: let Lua report it
    if (c === BACKSLASH) {
      const next = s.charCodeAt(j + 1);
      if (Number.isNaN(next)) return s.length;
      if (!KNOWN_ESCAPES.has(next)) replace(j, j + 1, '');
      j += next === CR && s.charCodeAt(j + 2) === LF ? 3 : 2;
      continue;
    }
    j++;
  }
  return j;
}

/** Mirrors Lua 5.3's read_numeral so the token boundaries are the lexer's. */
function readNumeral(s: string, at: number): number {
  let j = at;
  let exponent = 'Ee';
  if (s.charCodeAt(j) === 48 && (s[j + 1] === 'x' || s[j + 1] === 'X')) {
    j += 2;
    exponent = 'Pp';
  }
  for (;;) {
    const ch = s[j];
    if (ch !== undefined && exponent.includes(ch)) {
      j++;
      if (s[j] === '+' || s[j] === '-') j++;
    } else if (isHexDigit(s.charCodeAt(j)) || s.charCodeAt(j) === DOT) {
      j++;
    } else {
      return j;
    }
  }
}

function isDecimalInteger(s: string, start: number, end: number): boolean {
  for (let j = start; j < end; j++) if (!isDigit(s.charCodeAt(j))) return false;
  return true;
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
