import { CidrTable, EXCLUDED, parseV4, parseV6, type CidrValue } from './cidr-table.ts';

/**
 * The rbldnsd ip4set/ip6 file subset of spec lua-policy-api §10:
 *   # or ; comments, blank lines, $directives (ignored);
 *   ":A:TXT" sets the default value of later entries;
 *   entries "<ip | ip/len | a.b.c | a.b | a | a.b.c.d-e | ip-ip> [value]";
 *   a value is ":A[:TXT]" or a bare TXT; "!entry" excludes a network.
 * IPv6 entries end at whitespace (rbldnsd needs a space before the value's
 * colon); the IPv6 hyphen-range form is not supported (as in Momentum).
 */

export interface RbldnsdProblem {
  readonly line: number;
  readonly message: string;
}

export interface ParsedList {
  readonly table: CidrTable;
  readonly problems: RbldnsdProblem[];
}

const DEFAULT_A = '127.0.0.2';

export function parseRbldnsd(text: string): ParsedList {
  const table = new CidrTable();
  const problems: RbldnsdProblem[] = [];
  let defA = DEFAULT_A;
  let defTxt = '';
  let lineNo = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    lineNo++;
    const raw = text.slice(start, end);
    start = end + 1;
    const line = raw.trim();
    if (line === '' || line[0] === '#' || line[0] === ';' || line[0] === '$') continue;
    if (line[0] === ':') {
      const v = readValue(line, defA, defTxt);
      defA = v.a;
      defTxt = v.txt;
      continue;
    }
    const excluded = line[0] === '!';
    const body = excluded ? line.slice(1).trimStart() : line;
    const problem = addEntry(table, body, excluded, defA, defTxt);
    if (problem !== undefined) problems.push({ line: lineNo, message: problem });
  }
  return { table, problems };
}

let cachedDefault: CidrValue | undefined;

/** Entries without a value share one object per default. */
function defaultValue(a: string, txt: string): CidrValue {
  if (cachedDefault === undefined || cachedDefault.a !== a || cachedDefault.txt !== txt) cachedDefault = { a, txt };
  return cachedDefault;
}

/** ":A:TXT", ":A", "::TXT" or a bare TXT. */
function readValue(rest: string, defA: string, defTxt: string): CidrValue {
  const v = rest.trim();
  if (v === '') return { a: defA, txt: defTxt };
  if (v[0] !== ':') return { a: defA, txt: v };
  const second = v.indexOf(':', 1);
  const a = (second < 0 ? v.slice(1) : v.slice(1, second)).trim();
  const txt = second < 0 ? defTxt : v.slice(second + 1);
  return { a: a === '' ? defA : a, txt };
}

function addEntry(table: CidrTable, body: string, excluded: boolean, defA: string, defTxt: string): string | undefined {
  // Fast path for the common line: a bare IPv4 address, optionally with a value.
  const end = body.search(/[\s:]/);
  const first = end < 0 ? body : body.slice(0, end);
  const ip = parseV4(first);
  if (ip !== undefined) {
    table.addV4(ip, 32, excluded ? EXCLUDED : end < 0 ? defaultValue(defA, defTxt) : readValue(body.slice(end), defA, defTxt));
    return undefined;
  }
  const v6 = /^[0-9a-fA-F]*:[0-9a-fA-F:.]*(\/\d+)?(\s|$)/.test(body) && !/^\d+\.\d/.test(body);
  if (v6) {
    const sp = body.search(/\s/);
    const addr = sp < 0 ? body : body.slice(0, sp);
    const value = excluded ? EXCLUDED : readValue(sp < 0 ? '' : body.slice(sp), defA, defTxt);
    const [ip, lenText] = addr.split('/');
    const n = parseV6(ip!);
    const bits = lenText === undefined ? 128 : Number(lenText);
    if (n === undefined || !Number.isInteger(bits) || bits < 0 || bits > 128) return `not an IPv6 address or network: '${addr}'`;
    table.addV6(n, bits, value);
    return undefined;
  }
  const m = /^([0-9./-]+)/.exec(body);
  if (!m) return `not an address: '${body.slice(0, 40)}'`;
  const addr = m[1]!;
  const value = excluded ? EXCLUDED : readValue(body.slice(addr.length), defA, defTxt);
  const nets = v4Networks(addr);
  if (nets === undefined) return `not an IPv4 address, network or range: '${addr}'`;
  for (const [net, bits] of nets) table.addV4(net, bits, value);
  return undefined;
}

/** The CIDR blocks an IPv4 entry stands for. */
function v4Networks(addr: string): [number, number][] | undefined {
  const dash = addr.indexOf('-');
  if (dash >= 0) {
    const from = parseV4(addr.slice(0, dash));
    const toText = addr.slice(dash + 1);
    let to: number | undefined;
    if (/^\d{1,3}$/.test(toText) && from !== undefined) {
      const last = Number(toText);
      to = last <= 255 ? (Math.floor(from / 256) * 256 + last) : undefined;
    } else {
      to = parseV4(toText);
    }
    if (from === undefined || to === undefined || to < from) return undefined;
    return rangeToCidrs(from, to);
  }
  const slash = addr.indexOf('/');
  const ipText = slash < 0 ? addr : addr.slice(0, slash);
  const parts = ipText.split('.');
  if (parts.length < 1 || parts.length > 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return undefined;
  // "a.b.c" is a /24, "a.b" a /16, "a" a /8 (rbldnsd's short forms).
  const full = [...parts, '0', '0', '0'].slice(0, 4).join('.');
  const ip = parseV4(full)!;
  const bits = slash < 0 ? parts.length * 8 : Number(addr.slice(slash + 1));
  if (!Number.isInteger(bits) || bits < 0 || bits > 32 || addr.slice(slash + 1) === '') return undefined;
  return [[ip, bits]];
}

function rangeToCidrs(from: number, to: number): [number, number][] {
  const out: [number, number][] = [];
  let cur = from;
  while (cur <= to) {
    let bits = 32;
    // Grow the block while it stays aligned and inside the range.
    while (bits > 0) {
      const size = 2 ** (33 - bits);
      if (cur % size !== 0 || cur + size - 1 > to) break;
      bits--;
    }
    out.push([cur, bits]);
    cur += 2 ** (32 - bits);
  }
  return out;
}
