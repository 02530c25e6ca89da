/**
 * Text patterns ("substring" or "/regex/flags") and number comparisons
 * ("== 3", ">= 10", "2..5") as fixtures write them, with the wording used in
 * failure reports.
 */
import type { NumberMatch, NumberOp, TextMatch } from './fixture.ts';

const REGEX_LITERAL = /^\/(.*)\/([a-z]*)$/s;

/** `/…/flags` is a regular expression, anything else a substring; undefined if the regex is invalid. */
export function parseTextMatch(text: string): TextMatch | { error: string } {
  const m = REGEX_LITERAL.exec(text);
  if (m === null) return { kind: 'substring', text };
  try {
    return { kind: 'regex', re: new RegExp(m[1]!, m[2]!.replace(/g|y/g, '')) };
  } catch (err) {
    return { error: `invalid regular expression ${text}: ${(err as Error).message}` };
  }
}

export function textMatches(m: TextMatch, text: string): boolean {
  return m.kind === 'substring' ? text.includes(m.text) : m.re.test(text);
}

export function describeText(m: TextMatch): string {
  return m.kind === 'substring' ? JSON.stringify(m.text) : String(m.re);
}

const COMPARISON = /^(==|!=|>=|<=|>|<|=)?\s*(-?\d+(?:\.\d+)?)$/;
const RANGE = /^(-?\d+(?:\.\d+)?)\s*\.\.\s*(-?\d+(?:\.\d+)?)$/;

export function parseNumberMatch(value: string | number): NumberMatch | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? { kind: 'compare', op: '==', n: value } : undefined;
  const text = value.trim();
  const r = RANGE.exec(text);
  if (r !== null) {
    const min = Number(r[1]);
    const max = Number(r[2]);
    return min <= max ? { kind: 'range', min, max } : undefined;
  }
  const c = COMPARISON.exec(text);
  if (c === null) return undefined;
  const op = (c[1] === undefined || c[1] === '=' ? '==' : c[1]) as NumberOp;
  return { kind: 'compare', op, n: Number(c[2]) };
}

export function numberMatches(m: NumberMatch, v: number): boolean {
  if (m.kind === 'range') return v >= m.min && v <= m.max;
  switch (m.op) {
    case '==':
      return v === m.n;
    case '!=':
      return v !== m.n;
    case '>=':
      return v >= m.n;
    case '<=':
      return v <= m.n;
    case '>':
      return v > m.n;
    case '<':
      return v < m.n;
  }
}

export function describeNumber(m: NumberMatch): string {
  if (m.kind === 'range') return `${m.min}..${m.max}`;
  return m.op === '==' ? String(m.n) : `${m.op} ${m.n}`;
}

/** "0..5" or "3" → an inclusive window range. */
export function parseWindowRange(value: string | number): { start: number; end: number } | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? { start: value, end: value } : undefined;
  const text = value.trim();
  const r = /^(\d+)\s*\.\.\s*(\d+)$/.exec(text);
  if (r !== null) {
    const start = Number(r[1]);
    const end = Number(r[2]);
    return start <= end ? { start, end } : undefined;
  }
  return /^\d+$/.test(text) ? { start: Number(text), end: Number(text) } : undefined;
}
