import { SieveParseError, type SievePos } from './errors.ts';

/**
 * The tokens of Sieve++ (RFC 5228 §8.1 plus Momentum's `$var`, `(`/`)`
 * list assignment and `=`). Strings keep their raw text; interpolation of
 * `${v}` and `%{…}` happens when the string is evaluated.
 */
export type TokenKind = 'ident' | 'tag' | 'string' | 'number' | 'var' | 'punct' | 'eof';

export interface Token {
  readonly kind: TokenKind;
  /** ident/tag: lower-cased name; string: the unquoted text; number: digits; var: lower-cased name; punct: the character. */
  readonly text: string;
  /** Numbers only: the value with the K/M/G multiplier applied. */
  readonly value?: number;
  readonly pos: SievePos;
}

/** A script larger than this is refused at load: a hostile or runaway file must not cost unbounded parse time. */
export const MAX_SCRIPT_BYTES = 256 * 1024;
const MAX_TOKENS = 100_000;
const PUNCT = new Set(['[', ']', ',', ';', '{', '}', '(', ')', '=']);
const MULTIPLIER: Readonly<Record<string, number>> = { k: 1024, m: 1024 * 1024, g: 1024 * 1024 * 1024 };

export function tokenize(file: string, src: string): Token[] {
  if (Buffer.byteLength(src, 'utf8') > MAX_SCRIPT_BYTES) {
    throw new SieveParseError(file, { line: 1, col: 1 }, `script is larger than ${MAX_SCRIPT_BYTES} bytes`);
  }
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const pos = (at: number): SievePos => ({ line, col: at - lineStart + 1 });
  const fail = (at: number, msg: string): never => {
    throw new SieveParseError(file, pos(at), msg);
  };
  const newline = (at: number): void => {
    line++;
    lineStart = at + 1;
  };

  while (i < src.length) {
    const c = src[i]!;
    if (c === '\n') {
      newline(i);
      i++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && src[i + 1] === '*') {
      const open = pos(i);
      i += 2;
      while (i < src.length && !(src[i] === '*' && src[i + 1] === '/')) {
        if (src[i] === '\n') newline(i);
        i++;
      }
      if (i >= src.length) throw new SieveParseError(file, open, 'unterminated comment: expected "*/"');
      i += 2;
      continue;
    }
    if (out.length >= MAX_TOKENS) fail(i, `script has more than ${MAX_TOKENS} tokens`);
    const start = i;
    const p = pos(i);
    if (c === '"') {
      let text = '';
      i++;
      for (;;) {
        if (i >= src.length) throw new SieveParseError(file, p, 'unterminated string: expected a closing \'"\'');
        const d = src[i]!;
        if (d === '"') break;
        if (d === '\\' && i + 1 < src.length) {
          // Sieve quoting: a backslash takes the next character literally (no C escapes).
          const e = src[i + 1]!;
          if (e === '\n') newline(i + 1);
          text += e;
          i += 2;
          continue;
        }
        if (d === '\n') newline(i);
        text += d;
        i++;
      }
      i++;
      out.push({ kind: 'string', text, pos: p });
      continue;
    }
    if (/[0-9]/.test(c)) {
      while (i < src.length && /[0-9]/.test(src[i]!)) i++;
      const digits = src.slice(start, i);
      let value = Number(digits);
      const q = src[i]?.toLowerCase();
      if (q !== undefined && MULTIPLIER[q] !== undefined) {
        value *= MULTIPLIER[q]!;
        i++;
      }
      if (i < src.length && /[A-Za-z_]/.test(src[i]!)) fail(i, `bad number: expected digits with an optional K, M or G, got "${src.slice(start, i + 1)}"`);
      if (!Number.isSafeInteger(value)) fail(start, `number ${src.slice(start, i)} is too large`);
      out.push({ kind: 'number', text: digits, value, pos: p });
      continue;
    }
    if (c === ':' || c === '$' || /[A-Za-z_]/.test(c)) {
      i++;
      while (i < src.length && /[A-Za-z0-9_]/.test(src[i]!)) i++;
      const name = src.slice(c === ':' || c === '$' ? start + 1 : start, i);
      if (c !== ':' && c !== '$') {
        // `text:` opens a multi-line string (RFC 5228 §8.1).
        if (name.toLowerCase() === 'text' && src[i] === ':') {
          i = multiLine(src, i + 1, out, p, fail, newline);
          continue;
        }
        out.push({ kind: 'ident', text: name.toLowerCase(), pos: p });
        continue;
      }
      if (name === '' || !/^[A-Za-z_]/.test(name)) fail(start, c === ':' ? 'expected a tag name after ":"' : 'expected a variable name after "$"');
      out.push({ kind: c === ':' ? 'tag' : 'var', text: name.toLowerCase(), pos: p });
      continue;
    }
    if (PUNCT.has(c)) {
      out.push({ kind: 'punct', text: c, pos: p });
      i++;
      continue;
    }
    fail(i, `unexpected character ${JSON.stringify(c)}`);
  }
  out.push({ kind: 'eof', text: '', pos: pos(i) });
  return out;
}

/**
 * `text:` [spaces] [# comment] CRLF, then lines up to a line holding only ".";
 * a leading ".." stands for "." (dot-stuffing).
 */
function multiLine(
  src: string,
  i: number,
  out: Token[],
  p: SievePos,
  fail: (at: number, msg: string) => never,
  newline: (at: number) => void,
): number {
  while (i < src.length && (src[i] === ' ' || src[i] === '\t')) i++;
  if (src[i] === '#') while (i < src.length && src[i] !== '\n') i++;
  if (src[i] === '\r') i++;
  if (src[i] !== '\n') fail(i, 'expected a line break after "text:"');
  newline(i);
  i++;
  const lines: string[] = [];
  for (;;) {
    if (i >= src.length) fail(i, 'unterminated multi-line string: expected a line holding only "."');
    let end = src.indexOf('\n', i);
    if (end < 0) end = src.length;
    let lineText = src.slice(i, end);
    if (lineText.endsWith('\r')) lineText = lineText.slice(0, -1);
    if (end < src.length) newline(end);
    i = end + 1;
    if (lineText === '.') break;
    lines.push(lineText.startsWith('..') ? lineText.slice(1) : lineText);
  }
  out.push({ kind: 'string', text: lines.map((l) => `${l}\r\n`).join(''), pos: p });
  return i;
}
