/**
 * PCRE pattern syntax on top of JavaScript's RegExp. Subjects and patterns are
 * Lua byte strings, decoded as latin1 (one JS char per byte), so offsets and
 * captures are byte-exact. What PCRE has and RegExp lacks is translated where
 * the meaning is the same, and refused with a clear message where it is not;
 * docs/compat.md lists both.
 *
 * Cost bound: RegExp backtracks without limit and cannot be interrupted, so
 * a pattern whose cost cannot be bounded is refused at compile time: a group
 * that can repeat (*, +, {n,} or {n,m} with m > 1) and itself contains an
 * unbounded repeat, e.g. (a+)+ or (\w*x?)*. Subjects are capped in length too.
 */

export class PcrePatternError extends Error {}

const POSIX_CLASSES: Record<string, string> = {
  alpha: 'a-zA-Z',
  digit: '0-9',
  alnum: 'a-zA-Z0-9',
  upper: 'A-Z',
  lower: 'a-z',
  space: ' \\t\\r\\n\\v\\f',
  blank: ' \\t',
  punct: '!-\\/:-@\\[-`{-~',
  xdigit: '0-9A-Fa-f',
  word: '\\w',
  cntrl: '\\x00-\\x1f\\x7f',
  print: '\\x20-\\x7e',
  graph: '\\x21-\\x7e',
};

export interface Translated {
  readonly source: string;
  readonly flags: string;
}

/** PCRE option letters → RegExp flags; x (extended) is applied by the translator. */
export function translatePcre(pattern: string, options: string): Translated {
  let flags = '';
  let extended = false;
  const addFlag = (c: string) => {
    if (c === 'x') extended = true;
    else if (!flags.includes(c)) flags += c;
  };
  for (const c of options) {
    if (!'imsx'.includes(c)) throw new PcrePatternError(`unknown option '${c}' (use i, m, s or x)`);
    addFlag(c);
  }
  // Leading inline options, e.g. (?i) or (?si): the common PCRE idiom.
  let p = pattern;
  for (let m = /^\(\?([imsx]+)\)/.exec(p); m; m = /^\(\?([imsx]+)\)/.exec(p)) {
    for (const c of m[1]!) addFlag(c);
    p = p.slice(m[0].length);
  }
  const multiline = flags.includes('m');
  let out = '';
  // Group bookkeeping for the cost check: does the group contain an unbounded repeat?
  const groups: { unbounded: boolean }[] = [{ unbounded: false }];
  let lastAtom: 'none' | 'simple' | 'group' = 'none';
  let lastGroupUnbounded = false;
  let i = 0;
  const n = p.length;
  while (i < n) {
    const c = p[i]!;
    if (extended && /\s/.test(c)) {
      i++;
      continue;
    }
    if (extended && c === '#') {
      while (i < n && p[i] !== '\n') i++;
      continue;
    }
    if (c === '\\') {
      const d = p[i + 1];
      if (d === undefined) throw new PcrePatternError('pattern ends with a backslash');
      i += 2;
      switch (d) {
        case 'A':
          out += multiline ? '(?<![\\s\\S])' : '^';
          lastAtom = 'none';
          continue;
        case 'z':
          out += '(?![\\s\\S])';
          lastAtom = 'none';
          continue;
        case 'Z':
          out += '(?=\\n?(?![\\s\\S]))';
          lastAtom = 'none';
          continue;
        case 'h':
          out += '[ \\t]';
          break;
        case 'H':
          out += '[^ \\t]';
          break;
        case 'Q': {
          const end = p.indexOf('\\E', i);
          const lit = end < 0 ? p.slice(i) : p.slice(i, end);
          out += lit.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
          i = end < 0 ? n : end + 2;
          break;
        }
        case 'E':
          continue;
        case 'G':
        case 'K':
        case 'R':
        case 'X':
        case 'C':
          throw new PcrePatternError(`\\${d} is not supported`);
        default:
          out += '\\' + d;
      }
      lastAtom = 'simple';
      continue;
    }
    if (c === '[') {
      let j = i + 1;
      let cls = '[';
      if (p[j] === '^') {
        cls += '^';
        j++;
      }
      if (p[j] === ']') {
        cls += '\\]';
        j++;
      }
      for (; j < n && p[j] !== ']'; j++) {
        if (p[j] === '\\') {
          cls += p[j]! + (p[j + 1] ?? '');
          j++;
        } else if (p[j] === '[' && p[j + 1] === ':') {
          const end = p.indexOf(':]', j + 2);
          const name = end < 0 ? '' : p.slice(j + 2, end);
          const neg = name.startsWith('^');
          const body = POSIX_CLASSES[neg ? name.slice(1) : name];
          if (body === undefined || neg) throw new PcrePatternError(`POSIX class [:${name}:] is not supported`);
          cls += body;
          j = end + 1;
        } else if (p[j] === '[') {
          cls += '\\[';
        } else {
          cls += p[j];
        }
      }
      if (j >= n) throw new PcrePatternError('missing terminating ] for character class');
      out += cls + ']';
      i = j + 1;
      lastAtom = 'simple';
      continue;
    }
    if (c === '(') {
      const rest = p.slice(i + 1, i + 4);
      if (rest.startsWith('?>')) throw new PcrePatternError('atomic groups (?>...) are not supported');
      if (rest.startsWith('?(')) throw new PcrePatternError('conditional groups (?(...)...) are not supported');
      if (/^\?(R|\d|[+-]\d|&)/.test(rest)) throw new PcrePatternError('recursion and subroutine calls are not supported');
      if (rest.startsWith('?#')) {
        const end = p.indexOf(')', i);
        if (end < 0) throw new PcrePatternError('missing ) after comment');
        i = end + 1;
        continue;
      }
      if (rest.startsWith('?P<')) {
        out += '(?<';
        i += 4;
      } else if (rest.startsWith('?P=')) {
        const end = p.indexOf(')', i);
        if (end < 0) throw new PcrePatternError('missing ) after (?P=');
        out += `\\k<${p.slice(i + 4, end)}>`;
        i = end + 1;
        lastAtom = 'simple';
        continue;
      } else if (rest.startsWith("?'")) {
        const end = p.indexOf("'", i + 3);
        if (end < 0) throw new PcrePatternError("missing ' after (?'name");
        out += `(?<${p.slice(i + 3, end)}>`;
        i = end + 1;
      } else if (/^\?[imsx-]+[:)]/.test(p.slice(i + 1, i + 8))) {
        throw new PcrePatternError('inline options are only supported at the start of the pattern');
      } else {
        // (?:, (?=, (?!, (?<=, (?<!, (?<name> mean the same in both; anything else after (? is not ours to guess.
        const opener = /^\((?:\?(?:<[A-Za-z_]\w*>|<=|<!|:|=|!))?/.exec(p.slice(i))![0];
        if (opener === '(' && p[i + 1] === '?') throw new PcrePatternError(`unsupported group syntax '${p.slice(i, i + 4)}'`);
        out += opener;
        i += opener.length;
      }
      groups.push({ unbounded: false });
      lastAtom = 'none';
      continue;
    }
    if (c === ')') {
      const g = groups.pop();
      if (g === undefined || groups.length === 0) throw new PcrePatternError('unmatched closing parenthesis');
      if (g.unbounded) groups[groups.length - 1]!.unbounded = true;
      out += ')';
      i++;
      lastAtom = 'group';
      lastGroupUnbounded = g.unbounded;
      continue;
    }
    if (c === '*' || c === '+' || c === '?' || c === '{') {
      let q = c;
      let repeats = c !== '?';
      let unbounded = c !== '?';
      if (c === '{') {
        const m = /^\{(\d*)(,?)(\d*)\}/.exec(p.slice(i));
        if (!m || (m[1] === '' && m[3] === '')) {
          out += '\\{';
          i++;
          lastAtom = 'simple';
          continue;
        }
        q = m[0];
        const max = m[2] === '' ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]);
        repeats = max > 1;
        unbounded = max === Infinity;
      }
      if (lastAtom === 'none') throw new PcrePatternError(`quantifier '${q}' does not follow anything it can repeat`);
      i += q.length;
      if (p[i] === '+') throw new PcrePatternError('possessive quantifiers (*+, ++, ?+) are not supported');
      if (p[i] === '?') {
        q += '?';
        i++;
      }
      if (lastAtom === 'group' && repeats && lastGroupUnbounded) {
        throw new PcrePatternError('a repeated group containing an unbounded repeat, e.g. (a+)+, can take exponential time and is refused');
      }
      if (unbounded) groups[groups.length - 1]!.unbounded = true;
      out += q;
      lastAtom = 'none';
      continue;
    }
    out += c === '/' ? '\\/' : c;
    i++;
    lastAtom = c === '|' || c === '^' || c === '$' ? 'none' : 'simple';
  }
  if (groups.length !== 1) throw new PcrePatternError('missing )');
  return { source: out, flags };
}
