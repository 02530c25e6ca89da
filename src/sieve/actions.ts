import { MAX_TARPIT_SECONDS } from '../msys/constants.ts';
import { SieveRuntimeError } from './errors.ts';
import type { BoundCall, CommandSpec, Fail } from './spec.ts';
import { asNumber, asText, evalArg, MAX_HASH_KEYS, type Run, type SieveHash } from './values.ts';
import type { SievePhase } from './config.ts';

/**
 * The actions. They write the same disposition the Lua vctx methods write
 * (set_code, disconnect, tarpit), so the session turns a Sieve decision into
 * the same Verdict, reply, counters and log line as a Lua one.
 */
const MAX_REPLY_TEXT = 512;
const TRANSACTION_PHASES: readonly SievePhase[] = ['mailfrom', 'rcptto', 'data', 'data_spool', 'each_rcpt'];

function replyCode(rt: Run, call: BoundCall): number {
  const n = asNumber(evalArg(rt, call.args[0]!), 'the reply code');
  if (!Number.isInteger(n) || n < 200 || n > 599) throw new SieveRuntimeError(`reply code must be an SMTP code between 200 and 599, got ${n}`);
  return n;
}

function text(rt: Run, call: BoundCall, i: number): string {
  const a = call.args[i];
  if (a === undefined) return '';
  const t = asText(evalArg(rt, a));
  return t.length > MAX_REPLY_TEXT ? t.slice(0, MAX_REPLY_TEXT) : t;
}

/** A literal code must be a real SMTP code: caught at load, not in the first session. */
function checkCode(call: BoundCall, fail: Fail): void {
  const a = call.args[0]!;
  const v = a.kind === 'number' ? a.value : a.kind === 'string' && a.literal ? Number(a.raw.trim()) : undefined;
  if (v !== undefined && !(Number.isInteger(v) && v >= 200 && v <= 599)) fail(a.pos, `${call.name}: the reply code must be between 200 and 599, got "${a.kind === 'number' ? a.value : a.kind === 'string' ? a.raw : ''}"`);
  if (a.kind === 'list') fail(a.pos, `${call.name}: the reply code must be a number`);
}

function counter(rt: Run, call: BoundCall, i: number): void {
  // Momentum counts these in the sieve module's stats; here they name the decision in the log.
  if (rt.log().isLevelEnabled('debug')) {
    const label = call.args[i] === undefined ? `${call.file}:${call.pos.line}` : asText(evalArg(rt, call.args[i]));
    rt.log().debug({ sieve: call.file, line: call.pos.line, command: call.name, counter: label }, 'sieve action');
  }
}

function terminal(rt: Run): undefined {
  rt.done = true;
  rt.terminal = true;
  return undefined;
}

function hashVar(rt: Run, call: BoundCall): SieveHash {
  const a = call.args[0]!;
  const h = a.kind === 'var' ? rt.vars.get(a.name) : evalArg(rt, a);
  if (!(h instanceof Map)) throw new SieveRuntimeError(`${call.name}: the first argument is not a hash (use hash_create first)`);
  return h;
}

export const ACTION_COMMANDS: Readonly<Record<string, CommandSpec>> = {
  ec_action: {
    role: 'action',
    usage: 'ec_action <code> "<reason>" ["<counter>"]',
    min: 2,
    max: 3,
    check: checkCode,
    run: (rt, call) => {
      const d = rt.state.disposition;
      d.code = replyCode(rt, call);
      d.text = text(rt, call, 1);
      counter(rt, call, 2);
      return terminal(rt);
    },
  },
  ec_disconnect: {
    role: 'action',
    usage: 'ec_disconnect <code> "<reason>" ["<counter>"]',
    min: 2,
    max: 3,
    check: checkCode,
    run: (rt, call) => {
      const d = rt.state.disposition;
      d.code = replyCode(rt, call);
      d.text = text(rt, call, 1);
      d.disconnect = true;
      counter(rt, call, 2);
      return terminal(rt);
    },
  },
  ec_tarpit: {
    role: 'action',
    usage: 'ec_tarpit <seconds> ["<counter>"]',
    min: 1,
    max: 2,
    check: (call, fail) => {
      const a = call.args[0]!;
      if (a.kind === 'number' && a.value > MAX_TARPIT_SECONDS) fail(a.pos, `ec_tarpit: at most ${MAX_TARPIT_SECONDS} seconds, got ${a.value}`);
      if (a.kind === 'list') fail(a.pos, 'ec_tarpit: the delay must be a number of seconds');
    },
    run: (rt, call) => {
      const s = asNumber(evalArg(rt, call.args[0]!), 'the tarpit delay');
      if (s < 0 || s > MAX_TARPIT_SECONDS) throw new SieveRuntimeError(`ec_tarpit: seconds must be between 0 and ${MAX_TARPIT_SECONDS}, got ${s}`);
      // Not terminal; several tarpits in one phase add up (spec §14 #39).
      rt.state.disposition.tarpitSeconds += s;
      counter(rt, call, 1);
      return undefined;
    },
  },
  reject: {
    role: 'action',
    usage: 'reject "<reason>"',
    min: 0,
    max: 1,
    run: (rt, call) => {
      const d = rt.state.disposition;
      d.code = 550;
      d.text = text(rt, call, 0);
      return terminal(rt);
    },
  },
  keep: {
    role: 'action',
    usage: 'keep',
    min: 0,
    max: 0,
    // The implicit keep made explicit: accept as is; not terminal.
    run: () => undefined,
  },
  discard: {
    role: 'action',
    usage: 'discard',
    min: 0,
    max: 0,
    phases: TRANSACTION_PHASES,
    phaseNote: 'discard drops a message, which exists from MAIL FROM on',
    run: (rt) => {
      if (rt.state.message !== null) rt.state.message.discarded = 'all';
      return terminal(rt);
    },
  },
  hash_create: {
    role: 'value',
    usage: 'hash_create',
    min: 0,
    max: 0,
    run: () => new Map(),
  },
  hash_set: {
    role: 'action',
    usage: 'hash_set $hash "<key>" <value>',
    min: 3,
    max: 3,
    check: (call, fail) => {
      const a = call.args[0]!;
      if (a.kind !== 'var' && a.kind !== 'index') fail(a.pos, 'hash_set: the first argument must be a $hash variable');
    },
    run: (rt, call) => {
      const h = hashVar(rt, call);
      const key = asText(evalArg(rt, call.args[1]!));
      if (!h.has(key) && h.size >= MAX_HASH_KEYS) throw new SieveRuntimeError(`hash_set: a hash holds at most ${MAX_HASH_KEYS} keys`);
      h.set(key, evalArg(rt, call.args[2]!));
      return undefined;
    },
  },
  hash_get: {
    role: 'value',
    usage: 'hash_get $hash "<key>"',
    min: 2,
    max: 2,
    run: (rt, call) => hashVar(rt, call).get(asText(evalArg(rt, call.args[1]!))) ?? '',
  },
};
