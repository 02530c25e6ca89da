/**
 * The one Lua tokenizer moonwatch has: Momentum's dialect (Lua 5.1 plus `!=`,
 * `^^` and `\`) and Lua 5.3 syntax, as far as the two tools that read sources
 * need it — the dialect pre-pass (dialect.ts) and the mutation check
 * (src/tools/mutation.ts). It finds token boundaries exactly as Lua's llex.c
 * does for strings, long brackets, comments and numerals; it does not check
 * what Lua would reject (an unfinished string ends at its line break and an
 * unclosed long bracket at the end of the input, so Lua reports them itself).
 * Whitespace is not a token.
 */

export type LuaTokenKind =
  /** `-- …` to the end of the line, or `--[[ … ]]`. */
  | 'comment'
  /** `[[ … ]]`, `[==[ … ]==]`. */
  | 'longString'
  /** `"…"` or `'…'` with escapes (possibly unfinished: ends before the line break). */
  | 'string'
  | 'number'
  | 'name'
  /** Operators and punctuation, longest match first (`...`, `==`, `<<`, `!=`, `^^`, `\`). */
  | 'symbol';

export interface LuaToken {
  readonly kind: LuaTokenKind;
  /** Offsets into the source: [start, end). */
  readonly start: number;
  readonly end: number;
  /** 1-based line of the token's first character (line breaks are LF, CR LF or CR). */
  readonly line: number;
}

// Longest first: the lexer takes the first one that matches.
const SYMBOLS3 = ['...'];
const SYMBOLS2 = ['..', '==', '~=', '!=', '<=', '>=', '<<', '>>', '//', '::', '^^'];

export function tokenizeLua(source: string): LuaToken[] {
  const tokens: LuaToken[] = [];
  const n = source.length;
  let line = 1;
  let i = 0;
  const push = (kind: LuaTokenKind, start: number, end: number): void => {
    tokens.push({ kind, start, end, line });
    line += countLineBreaks(source, start, end);
  };
  while (i < n) {
    const c = source.charCodeAt(i);
    if (c === LF || c === CR) {
      // CR LF (and LF CR, as llex.c's inclinenumber) is one line break.
      const next = source.charCodeAt(i + 1);
      i += (next === LF || next === CR) && next !== c ? 2 : 1;
      line++;
    } else if (c === SPACE || c === TAB || c === VT || c === FF) {
      i++;
    } else if (c === MINUS && source.charCodeAt(i + 1) === MINUS) {
      const end = skipComment(source, i + 2);
      push('comment', i, end);
      i = end;
    } else if (c === LBRACKET && longBracketLevel(source, i) >= 0) {
      const end = skipLongBracket(source, i, longBracketLevel(source, i));
      push('longString', i, end);
      i = end;
    } else if (c === DQUOTE || c === SQUOTE) {
      const end = skipShortString(source, i);
      push('string', i, end);
      i = end;
    } else if (isDigit(c) || (c === DOT && isDigit(source.charCodeAt(i + 1)))) {
      const end = readNumeral(source, i);
      push('number', i, end);
      i = end;
    } else if (isIdentStart(c)) {
      let end = i + 1;
      while (end < n && isIdentPart(source.charCodeAt(end))) end++;
      push('name', i, end);
      i = end;
    } else {
      const len = SYMBOLS3.some((s) => source.startsWith(s, i)) ? 3 : SYMBOLS2.some((s) => source.startsWith(s, i)) ? 2 : 1;
      push('symbol', i, i + len);
      i += len;
    }
  }
  return tokens;
}

/** The token's text. */
export function tokenText(source: string, t: LuaToken): string {
  return source.slice(t.start, t.end);
}

/** True when a number token is a plain decimal integer (`42`, not `4.2`, `1e3` or `0x10`). */
export function isDecimalIntegerToken(source: string, t: LuaToken): boolean {
  if (t.kind !== 'number') return false;
  for (let j = t.start; j < t.end; j++) if (!isDigit(source.charCodeAt(j))) return false;
  return true;
}

const LF = 10;
const CR = 13;
const SPACE = 32;
const TAB = 9;
const VT = 11;
const FF = 12;
const MINUS = 45;
const LBRACKET = 91;
const EQUALS = 61;
const DQUOTE = 34;
const SQUOTE = 39;
const DOT = 46;
const BACKSLASH = 92;

export function isDigit(c: number): boolean {
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

function countLineBreaks(s: string, from: number, to: number): number {
  let k = 0;
  for (let j = from; j < to; j++) {
    const c = s.charCodeAt(j);
    if (c === LF) k++;
    else if (c === CR) {
      k++;
      if (s.charCodeAt(j + 1) === LF && j + 1 < to) j++;
    }
  }
  return k;
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

/** Index just past the closing quote; an unfinished string ends before its line break. */
function skipShortString(s: string, at: number): number {
  const quote = s.charCodeAt(at);
  let j = at + 1;
  while (j < s.length) {
    const c = s.charCodeAt(j);
    if (c === quote) return j + 1;
    if (c === LF || c === CR) return j;
    if (c === BACKSLASH) {
      if (j + 1 >= s.length) return s.length;
      // An escaped line break ("\" at the end of a line) continues the string.
      j += s.charCodeAt(j + 1) === CR && s.charCodeAt(j + 2) === LF ? 3 : 2;
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
