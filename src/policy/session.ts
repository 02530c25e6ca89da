import { parseAddress } from '../audit/address.ts';
import type { GaugeHandle } from '../audit/gauges.ts';
import type { AuditStore } from '../audit/store.ts';
import { monotonicMs, type Clock } from '../clock.ts';
import { errorMessage } from '../errors.ts';
import { andThen, type Eventually } from '../eventually.ts';
import type { Logger } from '../log.ts';
import { serializeMessage } from '../msys/headers.ts';
import { emptyDisposition, type MessageState, type SessionState } from '../msys/session-state.ts';
import { decisionFields, isDecision } from './decision-log.ts';
import { verdictFromDisposition } from './disposition.ts';
import type { FailureMode } from './engine-options.ts';
import type { CalloutResult, Generation, LuaSession } from './generation.ts';
import type { PolicyObserver } from './observer.ts';
import { PHASE, type PhaseSpec } from './phases.ts';
import { replyViolation } from './reply-rules.ts';
import type { CloseReason, Deliver, MessageInput, PolicySession, SessionOptions } from './session-api.ts';
import { CONTINUE, isRejection, type Verdict } from './verdict.ts';

/** What every session of an engine shares. */
export interface SessionEnvironment {
  readonly store: AuditStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly failureMode: FailureMode;
  readonly receptionUnit: 'recipient' | 'message';
  readonly hostname: string;
  /** Called once when the session closes, so the engine can retire its generation. */
  readonly onClose: (generation: Generation) => void;
  /** Told about every phase (metrics); absent: nothing is told. */
  readonly observer?: PolicyObserver | undefined;
  /** Called after a phase when its generation retains more than its bound (the engine rebuilds it). */
  readonly onOverRetained?: (generation: Generation) => void;
  /** Counts a fault that a limit stopped (instructions, wall-clock, memory, string-size). */
  readonly countLimit?: (limit: string) => void;
}

/**
 * One inbound connection driven through the policy. It records the audit
 * events itself (a connection at accept, a rejection per 4xx/5xx, receptions
 * after the sink confirmed), so every front counts the same way, and it owns
 * the SMTP gauge, which it closes exactly once.
 */
export class Session implements PolicySession {
  readonly id: string;
  readonly generation: number;
  private readonly state: SessionState;
  private readonly lua: LuaSession;
  private readonly gauge: GaugeHandle;
  /** Made on first use: a pino child serialises its bindings, and most sessions log nothing. */
  private sessionLog: Logger | undefined;
  private messageCount = 0;
  private closed = false;
  /** The phase now running, if it is waiting: close() lets it finish before freeing the session's Lua state. */
  private inflight: Promise<unknown> | undefined;

  constructor(
    private readonly env: SessionEnvironment,
    private readonly gen: Generation,
    id: string,
    opts: SessionOptions,
  ) {
    this.id = id;
    this.generation = gen.id;
    // Parsed once: the per-event store path never parses address text.
    const peer = parseAddress(opts.remote.address);
    // Counted at accept, before any policy runs, so the session sees itself.
    env.store.record('connections', peer);
    this.gauge = env.store.gauges.open('SMTP', peer, opts.listener);
    const address = opts.remote.address;
    // Every field is set, absent ones to undefined: one object shape for every session.
    this.state = {
      id,
      connId: id,
      peer,
      peerText: address.startsWith('::') ? address.replace(/^::ffff:(?=\d+\.)/i, '') : address,
      peerPort: opts.remote.port,
      localText: opts.local?.address,
      localPort: opts.local?.port,
      listener: opts.listener,
      hostname: opts.hostname ?? env.hostname,
      clientName: opts.clientName,
      ehlo: undefined,
      vctxConn: new Map(),
      vctxMess: new Map(),
      disposition: emptyDisposition(),
      message: null,
    };
    this.lua = gen.openSession(this.state, () => this.log);
  }

  private get log(): Logger {
    return (this.sessionLog ??= this.env.logger.child({ session: this.id, peer: this.state.peerText, generation: this.generation }));
  }

  connect(): Eventually<Verdict> {
    return andThen(this.phase(PHASE.accept), (accepted) => {
      if (accepted.action !== 'continue') return accepted;
      // A tarpit asked for at accept still applies to the greeting.
      return andThen(this.phase(PHASE.connect), (connected) =>
        accepted.tarpitMs > 0 ? { ...connected, tarpitMs: connected.tarpitMs + accepted.tarpitMs } : connected,
      );
    });
  }

  ehlo(name: string): Eventually<Verdict> {
    this.state.ehlo = name;
    this.state.vctxConn.set('ehlo_string', name);
    this.state.vctxConn.set('ehlo_domain', firstWord(name));
    return this.phase(PHASE.ehlo, name);
  }

  mailFrom(address: string): Eventually<Verdict> {
    const bare = bareAddress(address);
    this.reset();
    this.state.message = { id: `${this.id}.${++this.messageCount}`, mailFrom: bare, recipients: [], currentRcpt: undefined };
    setEnvelopeKeys(this.state.vctxMess, 'mailfrom', 'MAIL FROM', bare);
    return andThen(this.phase(PHASE.mailfrom, bare), (verdict) => {
      if (isRejection(verdict)) this.state.message = null;
      return verdict;
    });
  }

  rcptTo(address: string): Eventually<Verdict> {
    const message = this.requireMessage('RCPT');
    const bare = bareAddress(address);
    message.currentRcpt = bare;
    const mess = this.state.vctxMess;
    setEnvelopeKeys(mess, 'rcptto', 'RCPT TO', bare);
    return andThen(this.phase(PHASE.rcptto, bare), (verdict) => {
      if (!isRejection(verdict)) {
        // msg:rcptto may have rewritten the recipient during the callout.
        message.recipients.push(message.currentRcpt ?? bare);
        mess.set('message_rcpt_count', String(message.recipients.length));
        incrementKey(this.state.vctxConn, 'connection_rcpt_count');
      }
      message.currentRcpt = undefined; // not delete: a runtime call, and a change of the object's shape
      return verdict;
    });
  }

  async data(input: MessageInput, deliver: Deliver): Promise<Verdict> {
    const message = this.requireMessage('DATA');
    // Parsed only if a script reads or edits the content (msys/message.ts).
    message.raw = input.raw;
    let tarpitMs = 0;
    let custom: Verdict | undefined;
    // One copy is spooled per recipient; a rejection of any copy rejects the
    // transaction, because a single SMTP reply answers the whole DATA. The
    // recipient list is final after validate_rcptto_list_final (spec §2.1).
    // r = -1: DATA's own phases; then each recipient's. Most of these phases
    // have no callout, and awaiting only a phase that waits saves a turn each.
    for (let r = -1; r < message.recipients.length; r++) {
      if (r >= 0) message.currentRcpt = message.recipients[r]!;
      for (const phase of r < 0 ? DATA_PHASES : PER_RCPT_PHASES) {
        let v = this.phase(phase);
        if (v instanceof Promise) v = await v;
        if (isRejection(v)) return this.endTransaction(v);
        tarpitMs += v.tarpitMs;
        if (v.code !== undefined) custom = v;
      }
      if (r < 0) message.recipientsFinal = true;
    }
    message.currentRcpt = undefined;
    // msg:discard: the client is answered as usual; discarded copies are not handed on.
    const discarded = message.discarded;
    const deliverTo = discarded === 'all' ? [] : message.recipients.filter((r) => !discarded?.has(r));
    if (deliverTo.length === 0) {
      const reply = custom ?? CONTINUE;
      return this.endTransaction(tarpitMs > 0 ? { ...reply, tarpitMs } : reply);
    }
    try {
      await deliver({
        sessionId: this.id,
        mailFrom: message.mailFrom,
        recipients: deliverTo,
        raw: message.body === undefined ? input.raw : serializeMessage(message.body),
      });
    } catch (err) {
      this.log.error({ err: errorMessage(err), phase: 'deliver' }, 'message was not accepted by the sink');
      this.env.store.record('rejections', this.state.peer);
      return this.endTransaction(deliveryFailure(err));
    }
    // Counted only once the sink has the message: nothing acknowledged is lost,
    // and nothing lost is counted as received.
    const receptions = this.env.receptionUnit === 'recipient' ? message.recipients.length : 1;
    for (let i = 0; i < receptions; i++) this.env.store.record('receptions', this.state.peer);
    incrementKey(this.state.vctxConn, 'connection_message_count');
    const reply = custom ?? CONTINUE;
    return this.endTransaction(tarpitMs > 0 ? { ...reply, tarpitMs } : reply);
  }

  reset(): void {
    this.state.message = null;
    // Everything reads the map through the state, so emptying it is the same as replacing it.
    // (Map.prototype.clear runs in the runtime: skipped when there is nothing to clear.)
    if (this.state.vctxMess.size > 0) this.state.vctxMess.clear();
  }

  protocolRejection(code: number): void {
    if (this.closed || !(code >= 400 && code <= 599)) return;
    this.env.store.record('rejections', this.state.peer);
  }

  close(reason: CloseReason): void {
    if (this.closed) return;
    this.closed = true;
    if (this.inflight !== undefined) {
      void this.inflight.finally(() => this.finishClose(reason));
      return;
    }
    this.finishClose(reason);
  }

  /** validate_dealloc runs like any phase (it may wait too); the session's Lua objects and gauge go after it. */
  private finishClose(reason: CloseReason): void {
    let result: CalloutResult | Promise<CalloutResult>;
    try {
      result = this.gen.runPhase(this.lua, PHASE.dealloc);
    } catch (err) {
      this.release(reason);
      throw err;
    }
    if (!(result instanceof Promise)) {
      this.afterDealloc(result, reason);
      return;
    }
    void result.then(
      (r) => this.afterDealloc(r, reason),
      (err: unknown) => {
        this.log.error({ phase: 'dealloc', err: errorMessage(err) }, 'validate_dealloc failed');
        this.release(reason);
      },
    );
  }

  private afterDealloc(result: CalloutResult, reason: CloseReason): void {
    try {
      if (result.kind === 'fault') this.logFault(PHASE.dealloc, result.module, result.fault);
    } finally {
      this.release(reason);
    }
  }

  private release(reason: CloseReason): void {
    this.gen.closeSession(this.lua);
    this.gauge.close();
    if (this.env.logger.isLevelEnabled('debug')) this.log.debug({ reason }, 'session closed');
    this.env.onClose(this.gen);
  }

  private endTransaction(v: Verdict): Verdict {
    this.reset();
    return v;
  }

  private requireMessage(command: string): MessageState {
    if (this.state.message === null) throw new Error(`${command} before MAIL FROM: the front must not call this`);
    return this.state.message;
  }

  /**
   * Runs one phase (it may wait on DNS and the like) and turns its disposition
   * (or fault) into the verdict. Synchronous unless a callout waited: most
   * phases wait for nothing, and a promise per phase is a measurable part of
   * the SMTP path's cost.
   */
  private phase(spec: PhaseSpec, str?: string): Eventually<Verdict> {
    if (this.closed) throw new Error(`session ${this.id} is closed`);
    if (!this.gen.hasCallouts(spec)) return CONTINUE;
    this.state.disposition = emptyDisposition();
    const started = monotonicMs();
    const result = this.gen.runPhase(this.lua, spec, str);
    if (!(result instanceof Promise)) return this.verdictOf(spec, str, result, started);
    // The phase waits (DNS, sleep): close() must not free the session under it.
    this.inflight = result;
    // One then with both handlers rather than finally + then: a promise less per waiting phase.
    return result.then(
      (r) => {
        this.inflight = undefined;
        return this.verdictOf(spec, str, r, started);
      },
      (err: unknown) => {
        this.inflight = undefined;
        throw err;
      },
    );
  }

  private verdictOf(spec: PhaseSpec, str: string | undefined, result: CalloutResult, started: number): Verdict {
    if (this.gen.overRetained) this.env.onOverRetained?.(this.gen);
    let verdict: Verdict;
    const module = result.kind === 'fault' ? result.module : this.lua.decidedBy;
    if (result.kind === 'fault') {
      this.logFault(spec, result.module, result.fault);
      this.env.observer?.fault(spec.name, result.module);
      verdict = this.failureVerdict();
    } else {
      verdict = verdictFromDisposition(this.state.disposition, this.state.hostname);
      // A reply the protocol forbids at this phase is a policy fault, not a reply (spec §17 #5).
      const violation = replyViolation(verdict, spec.name);
      if (violation !== undefined) {
        this.log.error({ phase: spec.name, code: verdict.code, action: verdict.action, fault: 'verdict' }, `${spec.callout} error: forbidden reply: ${violation}`);
        verdict = this.failureVerdict();
      }
    }
    if (isRejection(verdict)) this.env.store.record('rejections', this.state.peer);
    this.env.observer?.phase(spec, verdict, module, monotonicMs() - started);
    // At info only decisions are logged (Postfix logs its rejects, not every
    // accepted command); every phase at debug. Building the line costs as much
    // as a small script, so it is skipped when its level is off.
    const level = isDecision(verdict) ? 'info' : 'debug';
    if (this.env.logger.isLevelEnabled(level)) {
      this.log[level](
        {
          phase: spec.name,
          verdict: verdict.action,
          ...(verdict.code === undefined ? {} : { code: verdict.code }),
          ...(verdict.tarpitMs > 0 ? { tarpit_ms: verdict.tarpitMs } : {}),
          duration_ms: Math.round((monotonicMs() - started) * 1000) / 1000,
          // A rejection, tempfail, disconnect or tarpit says who decided, on what, and why.
          ...(isDecision(verdict)
            ? decisionFields({ phase: spec.name, verdict, state: this.state, module, generation: this.generation, reads: this.gen.phaseReads(), ...(str !== undefined && (spec.name === 'rcptto') ? { recipient: str } : this.state.message?.currentRcpt === undefined ? {} : { recipient: this.state.message.currentRcpt }) })
            : {}),
        },
        'phase decision',
      );
    }
    return verdict;
  }

  private failureVerdict(): Verdict {
    const f = this.env.failureMode;
    return { action: f.action, code: f.code, enhanced: f.enhanced, text: f.text, tarpitMs: 0, fault: true };
  }

  private logFault(spec: PhaseSpec, module: string, fault: { code: string; script?: string; line?: number; luaMessage: string; kind: string; limit?: string }): void {
    if (fault.limit !== undefined) this.env.countLimit?.(fault.limit);
    this.log.error(
      { phase: spec.name, module, script: fault.script, line: fault.line, fault: fault.kind, code: fault.code, ...(fault.limit === undefined ? {} : { limit: fault.limit }) },
      `${spec.callout} error: ${fault.luaMessage}`,
    );
  }
}

/** DATA's phases in order; then, once the recipient list is final, these for each recipient. */
const DATA_PHASES: readonly PhaseSpec[] = [PHASE.data, PHASE.data_spool, PHASE.rcpt_list, PHASE.rcpt_list_final];
const PER_RCPT_PHASES: readonly PhaseSpec[] = [PHASE.each_rcpt, PHASE.post_each_rcpt, PHASE.set_binding, PHASE.final_validation];

/** The predefined message-context keys (spec lua-policy-api §4): <kind>_string, _localpart, _domain. */
function setEnvelopeKeys(mess: Map<string, string>, kind: string, command: string, bare: string): void {
  const at = bare.lastIndexOf('@');
  mess.set(`${kind}_string`, `${command}:<${bare}>`);
  mess.set(`${kind}_localpart`, at >= 0 ? bare.slice(0, at) : bare);
  mess.set(`${kind}_domain`, at >= 0 ? bare.slice(at + 1) : '');
}

/** The EHLO argument up to its first white space (the listener passes one word: no regex for it). */
function firstWord(name: string): string {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return name.split(/\s+/)[0] ?? '';
  }
  return name;
}

/** Context values are strings; the predefined counters are kept as decimal text. */
function incrementKey(map: Map<string, string>, key: string): void {
  map.set(key, String(Number(map.get(key) ?? '0') + 1));
}

/** "<a@b> SIZE=10" → "a@b": scripts see the bare address (spec §17 #14). */
function bareAddress(text: string): string {
  const m = /<([^>]*)>/.exec(text);
  return (m ? m[1]! : text.trim().split(/\s+/)[0] ?? '').trim();
}

/** A sink that answers with an SMTP status (relay) passes it back; anything else is 451 4.3.0. */
function deliveryFailure(err: unknown): Verdict {
  const e = err as { smtpCode?: unknown; responseCode?: unknown; enhanced?: unknown; smtpText?: unknown };
  const code = typeof e.smtpCode === 'number' ? e.smtpCode : typeof e.responseCode === 'number' ? e.responseCode : undefined;
  if (code !== undefined && code >= 400 && code <= 599) {
    return {
      action: code >= 500 ? 'reject' : 'tempfail',
      code,
      ...(typeof e.enhanced === 'string' ? { enhanced: e.enhanced } : {}),
      text: typeof e.smtpText === 'string' ? e.smtpText : 'Message refused by next hop',
      tarpitMs: 0,
    };
  }
  return { action: 'tempfail', code: 451, enhanced: '4.3.0', text: 'Message could not be stored, try again later', tarpitMs: 0 };
}
