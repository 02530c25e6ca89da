import { headerValues, parseMessage } from '../msys/headers.ts';
import type { MessageBody } from '../msys/session-state.ts';
import { SieveRuntimeError } from './errors.ts';
import { compileRegex, matchAny, RegexError, type Matcher } from './match.ts';
import type { BoundCall, CommandSpec, Fail } from './spec.ts';
import { asList, asNumber, evalArg, type Run } from './values.ts';
import type { SievePhase } from './config.ts';

/**
 * ec_test (spec §9.7) and the RFC 5228 tests a policy needs at the SMTP
 * phases: header, address, envelope, exists, size.
 */
const MESSAGE_PHASES: readonly SievePhase[] = ['data', 'data_spool', 'each_rcpt'];
const ENVELOPE_FROM_PHASES: readonly SievePhase[] = ['mailfrom', 'rcptto', ...MESSAGE_PHASES];
const ADDRESS_PART = { all: { group: 'address-part' }, localpart: { group: 'address-part' }, domain: { group: 'address-part' } } as const;
/** Interpolated :regex keys are compiled once per distinct pattern, per command, up to this many. */
const REGEX_CACHE_MAX = 32;

function regexFor(call: BoundCall): (pattern: string) => RegExp {
  if (call.regex) return () => call.regex!;
  const regexCache = call.regexCache!;
  return (pattern) => {
    const key = pattern;
    let r = regexCache.get(key);
    if (r === undefined) {
      try {
        r = compileRegex(pattern, call.matcher!.comparator);
      } catch (err) {
        if (err instanceof RegexError) throw new SieveRuntimeError(`:regex pattern ${JSON.stringify(pattern.slice(0, 60))}: ${err.message}`);
        throw err;
      }
      if (regexCache.size >= REGEX_CACHE_MAX) regexCache.delete(regexCache.keys().next().value!);
      regexCache.set(key, r);
    }
    return r;
  };
}

function test(rt: Run, call: BoundCall, values: readonly string[], keyArg: number): boolean {
  const keys = asList(evalArg(rt, call.args[keyArg]!));
  return matchAny(call.matcher as Matcher, values, keys, regexFor(call));
}

function body(rt: Run): MessageBody {
  const m = rt.state.message;
  if (m === null || m.raw === undefined) throw new SieveRuntimeError('no message content in this phase');
  return (m.body ??= parseMessage(m.raw));
}

const ADDR = /<([^<>]*)>|([^\s<>,;"()]+@[^\s<>,;"()]+)/g;

/** The addresses in header values: "<a@b>" forms and bare a@b (RFC 5228 §5.1 on parsed address headers). */
function addresses(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const v of values) for (const m of v.matchAll(ADDR)) out.push((m[1] ?? m[2] ?? '').trim());
  return out;
}

function addressPart(call: BoundCall, addrs: readonly string[]): string[] {
  const part = call.tags.has('localpart') ? 'localpart' : call.tags.has('domain') ? 'domain' : 'all';
  if (part === 'all') return [...addrs];
  return addrs.map((a) => {
    const at = a.lastIndexOf('@');
    if (part === 'localpart') return at >= 0 ? a.slice(0, at) : a;
    return at >= 0 ? a.slice(at + 1) : '';
  });
}

function literalList(call: BoundCall, i: number, allowed: readonly string[], what: string, fail: Fail): void {
  const a = call.args[i];
  const items = a?.kind === 'string' ? [a] : a?.kind === 'list' ? a.items : [];
  for (const s of items) {
    if (s.literal && !allowed.includes(s.raw.toLowerCase())) fail(s.pos, `${what} must be ${allowed.map((x) => `"${x}"`).join(' or ')}, got "${s.raw}"`);
  }
}

export const TEST_COMMANDS: Readonly<Record<string, CommandSpec>> = {
  ec_test: {
    role: 'test',
    usage: 'ec_test [:comparator "<name>"] <match-type> "<value>" "<other-value>"',
    min: 2,
    max: 2,
    matching: { comparator: 'i;octet', match: 'is' },
    run: (rt, call) => test(rt, call, asList(evalArg(rt, call.args[0]!)), 1),
  },
  header: {
    role: 'test',
    usage: 'header [:comparator "<name>"] [<match-type>] <header-names> <keys>',
    min: 2,
    max: 2,
    matching: { comparator: 'i;ascii-casemap', match: 'is' },
    phases: MESSAGE_PHASES,
    run: (rt, call) => {
      const b = body(rt);
      const values = asList(evalArg(rt, call.args[0]!)).flatMap((n) => headerValues(b, n));
      return test(rt, call, values, 1);
    },
  },
  address: {
    role: 'test',
    usage: 'address [:all|:localpart|:domain] [:comparator "<name>"] [<match-type>] <header-names> <keys>',
    min: 2,
    max: 2,
    tags: ADDRESS_PART,
    matching: { comparator: 'i;ascii-casemap', match: 'is' },
    phases: MESSAGE_PHASES,
    run: (rt, call) => {
      const b = body(rt);
      const values = addresses(asList(evalArg(rt, call.args[0]!)).flatMap((n) => headerValues(b, n)));
      return test(rt, call, addressPart(call, values), 1);
    },
  },
  envelope: {
    role: 'test',
    usage: 'envelope [:all|:localpart|:domain] [:comparator "<name>"] [<match-type>] <"from" | "to"> <keys>',
    min: 2,
    max: 2,
    tags: ADDRESS_PART,
    matching: { comparator: 'i;ascii-casemap', match: 'is' },
    phases: ENVELOPE_FROM_PHASES,
    phaseNote: 'the envelope exists from MAIL FROM on',
    check: (call, fail) => {
      literalList(call, 0, ['from', 'to'], 'the envelope part', fail);
      const a = call.args[0]!;
      const items = a.kind === 'string' ? [a] : a.kind === 'list' ? a.items : [];
      if (call.phase === 'mailfrom' && items.some((s) => s.literal && s.raw.toLowerCase() === 'to')) {
        fail(a.pos, 'envelope "to" has no recipient yet in the mailfrom phase (use it from rcptto on)');
      }
    },
    run: (rt, call) => {
      const m = rt.state.message;
      if (m === null) return false;
      const values: string[] = [];
      for (const part of asList(evalArg(rt, call.args[0]!))) {
        const p = part.toLowerCase();
        if (p === 'from') values.push(m.mailFrom);
        else if (p === 'to') values.push(...(m.currentRcpt !== undefined ? [m.currentRcpt] : m.recipients));
        else throw new SieveRuntimeError(`envelope part must be "from" or "to", got ${JSON.stringify(part)}`);
      }
      return test(rt, call, addressPart(call, values), 1);
    },
  },
  exists: {
    role: 'test',
    usage: 'exists <header-names>',
    min: 1,
    max: 1,
    phases: MESSAGE_PHASES,
    run: (rt, call) => {
      const b = body(rt);
      return asList(evalArg(rt, call.args[0]!)).every((n) => headerValues(b, n).length > 0);
    },
  },
  size: {
    role: 'test',
    usage: 'size <:over|:under> <limit>',
    min: 1,
    max: 1,
    tags: { over: { group: 'size' }, under: { group: 'size' } },
    phases: MESSAGE_PHASES,
    check: (call, fail) => {
      if (!call.tags.has('over') && !call.tags.has('under')) fail(call.pos, 'size needs :over or :under');
    },
    run: (rt, call) => {
      const m = rt.state.message;
      const size = m?.raw?.length ?? 0;
      const limit = asNumber(evalArg(rt, call.args[0]!), 'the size limit');
      return call.tags.has('over') ? size > limit : size < limit;
    },
  },
};
