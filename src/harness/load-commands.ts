/**
 * SMTP commands and reply expectations, as written inside `session`, `send`
 * and `bulk` steps.
 */
import type { SourcePos } from './errors.ts';
import type { Command, CommandVerb, MessageSpec, ReplyExpectation, TextMatch } from './fixture.ts';
import { parseDuration } from './duration.ts';
import { parseTextMatch } from './match.ts';
import type { YNode } from './yaml-reader.ts';

export const COMMAND_VERBS: readonly CommandVerb[] = [
  'connect', 'ehlo', 'helo', 'mail', 'rcpt', 'data', 'rset', 'quit', 'drop', 'timeout', 'protocol_error',
];

const DEFAULT_ARG: Partial<Record<CommandVerb, string>> = {
  ehlo: 'client.example.test',
  helo: 'client.example.test',
  mail: 'sender@example.test',
  rcpt: 'rcpt@example.test',
};

const DEFAULT_MESSAGE: MessageSpec = Object.freeze({ headers: [], body: 'A fixture message.\r\n' });

/** Success, not closed, not tarpitted: what a command must get unless the fixture says otherwise. */
export const EXPECT_OK: ReplyExpectation = Object.freeze({ any: false, outcome: 'ok', disconnect: false });
export const EXPECT_ANY: ReplyExpectation = Object.freeze({ any: true });

const KEYWORDS: Record<string, ReplyExpectation> = {
  ok: EXPECT_OK,
  any: EXPECT_ANY,
  tempfail: { any: false, outcome: 'tempfail' },
  reject: { any: false, outcome: 'reject' },
  disconnect: { any: false, disconnect: true },
};

const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3}$/;

/** `expect:` — a code, "550 5.1.1 text", a keyword, or a map of fields. */
export function readExpectation(node: YNode): ReplyExpectation {
  if (node.isMap) {
    const m = node.map('expect', ['outcome', 'code', 'enhanced', 'text', 'disconnect', 'tarpit', 'fault']);
    const out: { -readonly [K in keyof ReplyExpectation]: ReplyExpectation[K] } = { any: false };
    const outcome = m.get('outcome');
    if (outcome !== undefined) out.outcome = outcome.oneOf('expect.outcome', ['ok', 'tempfail', 'reject']);
    const code = m.get('code');
    if (code !== undefined) out.code = code.int('expect.code', 200, 599);
    const enhanced = m.get('enhanced');
    if (enhanced !== undefined) {
      const v = enhanced.string('expect.enhanced');
      if (!ENHANCED.test(v)) enhanced.fail(`expect.enhanced "${v}" is not an enhanced status code like 5.7.1`);
      out.enhanced = v;
    }
    const text = m.get('text');
    if (text !== undefined) out.text = readTextMatch(text, 'expect.text');
    const disconnect = m.get('disconnect');
    if (disconnect !== undefined) out.disconnect = disconnect.bool('expect.disconnect');
    const tarpit = m.get('tarpit');
    if (tarpit !== undefined) out.tarpitMs = readTarpit(tarpit);
    const fault = m.get('fault');
    if (fault !== undefined) out.fault = fault.bool('expect.fault');
    if (out.outcome === 'ok' && out.disconnect === undefined) out.disconnect = false;
    return out;
  }
  const v = node.scalar('expect');
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 200 || v > 599) node.fail('expect must be an SMTP reply code (200-599)');
    return { any: false, code: v };
  }
  if (typeof v !== 'string') return node.fail('expect must be a reply code, "550 5.1.1 text", ok, tempfail, reject, disconnect, any, or a map');
  const keyword = KEYWORDS[v.trim()];
  if (keyword !== undefined) return keyword;
  const m = /^([2-5]\d\d)(?:\s+([245]\.\d{1,3}\.\d{1,3}))?(?:\s+(.*))?$/s.exec(v.trim());
  if (m === null) return node.fail(`expect "${v}" is neither a reply ("550 5.1.1 text") nor one of ok, tempfail, reject, disconnect, any`);
  const out: { -readonly [K in keyof ReplyExpectation]: ReplyExpectation[K] } = { any: false, code: Number(m[1]) };
  if (m[2] !== undefined) out.enhanced = m[2];
  if (m[3] !== undefined && m[3] !== '') {
    const t = parseTextMatch(m[3]);
    if ('error' in t) return node.fail(t.error);
    out.text = t;
  }
  return out;
}

export function readTextMatch(node: YNode, what: string): TextMatch {
  const t = parseTextMatch(node.string(what));
  if ('error' in t) return node.fail(t.error);
  return t;
}

function readTarpit(node: YNode): number | 'any' {
  const v = node.scalar('expect.tarpit');
  if (v === true) return 'any';
  if (v === false) return 0;
  if (typeof v === 'string' || typeof v === 'number') {
    const ms = parseDuration(v);
    if (ms !== undefined) return ms;
  }
  return node.fail('expect.tarpit must be a duration (10s), true (any delay) or false (none)');
}

/** One command: `quit`, or `{ rcpt: a@b, expect: 550 }`. `extraKeys` are sibling keys owned by the caller. */
export function readCommand(node: YNode, opts: { allowExpect: boolean; extraKeys?: readonly string[] }): Command {
  if (node.isScalar) {
    const verb = node.string('command');
    if (!isVerb(verb)) node.fail(`unknown command "${verb}" (expected one of: ${COMMAND_VERBS.join(', ')})`);
    if (verb === 'protocol_error') node.fail('protocol_error needs a reply code, e.g. { protocol_error: 500 }');
    return build(verb, undefined, node, defaultExpect(verb));
  }
  const extra = opts.extraKeys ?? [];
  const m = node.map('command', [...COMMAND_VERBS, 'expect', ...extra]);
  const verbs = m.keys().filter((k) => isVerb(k));
  if (verbs.length !== 1) {
    node.fail(verbs.length === 0
      ? `no command given (expected one of: ${COMMAND_VERBS.join(', ')})`
      : `one command per item, got ${verbs.join(' and ')}`);
  }
  const verb = verbs[0] as CommandVerb;
  const argNode = m.get(verb)!;
  const expectNode = m.get('expect');
  if (expectNode !== undefined && !opts.allowExpect) {
    expectNode.fail('bulk commands take no expect; check outcomes with the bulk step\'s expect map');
  }
  if (expectNode !== undefined && (verb === 'drop' || verb === 'timeout' || verb === 'protocol_error' || verb === 'quit')) {
    expectNode.fail(`${verb} gets no policy reply to check`);
  }
  const expect = expectNode === undefined ? defaultExpect(verb) : readExpectation(expectNode);
  return build(verb, argNode, m.keyNode(verb)!, expect);
}

/** A command with its default argument and expectation (bulk traffic's standard session). */
export function defaultCommand(verb: 'ehlo' | 'mail' | 'rcpt' | 'data' | 'quit', pos: SourcePos): Command {
  const expect = defaultExpect(verb);
  if (verb === 'data') return { verb, message: DEFAULT_MESSAGE, deliver: 'ok', pos, expect };
  if (verb === 'quit') return { verb, pos, expect };
  return { verb, arg: DEFAULT_ARG[verb]!, pos, expect };
}

function build(verb: CommandVerb, arg: YNode | undefined, at: YNode, expect: ReplyExpectation): Command {
  const pos = at.pos;
  switch (verb) {
    case 'ehlo':
    case 'helo':
    case 'mail':
    case 'rcpt': {
      const text = arg === undefined || arg.isNull ? DEFAULT_ARG[verb]! : arg.string(`${verb} argument`);
      if (/[\r\n]/.test(text)) (arg ?? at).fail(`${verb} argument must be one line`);
      return { verb, arg: stripBrackets(verb, text), pos, expect };
    }
    case 'data': {
      const spec = arg === undefined || arg.isNull ? { message: DEFAULT_MESSAGE, deliver: 'ok' as const } : readData(arg);
      return { verb, ...spec, pos, expect };
    }
    case 'protocol_error':
      return { verb, code: arg!.int('protocol_error code', 400, 599), pos, expect };
    case 'connect':
    case 'rset':
    case 'quit':
    case 'drop':
    case 'timeout':
      if (arg !== undefined && !arg.isNull) arg.fail(`${verb} takes no argument`);
      return { verb, pos, expect };
  }
}

/** MAIL FROM:<a@b> and RCPT TO:<a@b> may be written with or without the brackets. */
function stripBrackets(verb: CommandVerb, text: string): string {
  const t = text.trim();
  if ((verb === 'mail' || verb === 'rcpt') && t.startsWith('<') && t.endsWith('>')) return t.slice(1, -1);
  return t;
}

function defaultExpect(verb: CommandVerb): ReplyExpectation {
  return verb === 'quit' || verb === 'drop' || verb === 'timeout' || verb === 'protocol_error' ? EXPECT_ANY : EXPECT_OK;
}

function readData(node: YNode): { message: MessageSpec; deliver: 'ok' | 'fail' } {
  const m = node.map('data', ['headers', 'body', 'size', 'deliver']);
  const headers: [string, string][] = [];
  const h = m.get('headers');
  if (h !== undefined) {
    if (h.isMap) {
      const hm = h.map('data.headers');
      for (const name of hm.keys()) headers.push([checkHeaderName(name, hm.keyNode(name)!), hm.get(name)!.string(`header ${name}`)]);
    } else {
      for (const line of h.list('data.headers')) {
        const text = line.string('a header line');
        const idx = text.indexOf(':');
        if (idx <= 0) line.fail(`header "${text}" must look like "Name: value"`);
        headers.push([checkHeaderName(text.slice(0, idx), line), text.slice(idx + 1).trim()]);
      }
    }
  }
  const bodyNode = m.get('body');
  const body = bodyNode === undefined ? DEFAULT_MESSAGE.body : bodyNode.string('data.body');
  const sizeNode = m.get('size');
  const size = sizeNode === undefined ? undefined : readSize(sizeNode);
  const deliver = m.get('deliver')?.oneOf('data.deliver', ['ok', 'fail'], ' (fail = the sink refuses the message)') ?? 'ok';
  return { message: size === undefined ? { headers, body } : { headers, body, size }, deliver };
}

function checkHeaderName(name: string, at: YNode): string {
  if (!/^[!-9;-~]+$/.test(name)) at.fail(`"${name}" is not a valid header name`);
  return name;
}

/** Sizes: 20000, "20k", "5m" (binary units, as message size limits are usually written). */
function readSize(node: YNode): number {
  const v = node.scalar('data.size');
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'string') {
    const m = /^(\d+)\s*([kKmM]?)[bB]?$/.exec(v.trim());
    if (m !== null) return Number(m[1]) * (m[2] === '' ? 1 : m[2]!.toLowerCase() === 'k' ? 1024 : 1048576);
  }
  return node.fail('data.size must be a byte count such as 20000, 20k or 5m');
}

function isVerb(v: string): v is CommandVerb {
  return (COMMAND_VERBS as readonly string[]).includes(v);
}
