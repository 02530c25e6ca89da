/**
 * The harness as an SMTP front: it turns fixture commands into calls on one
 * PolicySession and the verdicts back into replies, through the SMTP front's
 * own reply mapping (src/smtp/reply.ts), so a fixture sees the codes, texts
 * and disconnects a real client would. It also plays the front's part of the
 * protocol (503 for out-of-order commands, 421 on timeout), because the
 * session API relies on the front for sequencing.
 */
import type { Clock } from '../clock.ts';
import type { AcceptedMessage, CloseReason, PolicyEngine, PolicySession } from '../policy/session-api.ts';
import type { Verdict } from '../policy/verdict.ts';
import { formatReply, protocolReply, replyForVerdict, type SmtpPhase, type SmtpReply } from '../smtp/reply.ts';
import { buildMessage } from './message.ts';
import type { Command, MessageSpec } from './fixture.ts';
import type { TranscriptLine } from './result.ts';

/** What the client saw for one command. */
export interface Reply {
  readonly code: number;
  readonly enhanced: string;
  readonly text: string;
  /** The server closed the connection after this reply. */
  readonly disconnect: boolean;
  readonly tarpitMs: number;
  /** Produced by the failure mode after a script fault. */
  readonly fault: boolean;
  /** `front` when the harness (as the SMTP front) answered without asking the policy. */
  readonly source: 'policy' | 'front';
}

export interface DriverDeps {
  readonly engine: PolicyEngine;
  readonly clock: Clock;
  readonly hostname: string;
  /** Receives every message the policy accepted. */
  readonly onDelivered: (message: AcceptedMessage) => void;
  /** Transcript lines; undefined to keep none (bulk traffic). */
  readonly transcript?: TranscriptLine[];
}

type State = 'new' | 'open' | 'closed';

export class DrivenSession {
  private session: PolicySession | undefined;
  private state: State = 'new';
  private greeted = false;
  private mailFrom: string | undefined;
  private recipients: string[] = [];
  private messages = 0;
  /** Why the server ended the session, for "session closed" failures. */
  closedBy: string | undefined;

  constructor(
    private readonly deps: DriverDeps,
    readonly label: string,
    readonly from: string,
    private readonly listener?: string,
  ) {}

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Runs one command; undefined for commands that get no reply (drop, timeout after close). */
  async run(command: Command): Promise<Reply | undefined> {
    if (command.verb === 'connect') return this.connect();
    if (this.state !== 'open') throw new Error(`session ${this.label} is not open`);
    const s = this.session!;
    switch (command.verb) {
      case 'ehlo':
      case 'helo': {
        this.line(`C: ${command.verb.toUpperCase()} ${command.arg}`);
        // A new EHLO starts over: any open transaction is gone (RFC 5321 §4.1.4).
        if (this.mailFrom !== undefined) this.resetTransaction(s);
        const reply = this.policyReply(await s.ehlo(command.arg), 'ehlo', success(250, '', this.deps.hostname));
        if (reply.code < 400) this.greeted = true;
        return reply;
      }
      case 'mail': {
        this.line(`C: MAIL FROM:<${command.arg}>`);
        if (!this.greeted) return this.frontReply(503, '5.5.1', 'Error: send HELO/EHLO first');
        if (this.mailFrom !== undefined) return this.frontReply(503, '5.5.1', 'Error: nested MAIL command');
        const reply = this.policyReply(await s.mailFrom(command.arg), 'mailfrom', success(250, '2.1.0', 'Accepted'));
        if (reply.code < 400) this.mailFrom = command.arg;
        return reply;
      }
      case 'rcpt': {
        this.line(`C: RCPT TO:<${command.arg}>`);
        if (this.mailFrom === undefined) return this.frontReply(503, '5.5.1', 'Error: need MAIL command');
        const reply = this.policyReply(await s.rcptTo(command.arg), 'rcptto', success(250, '2.1.5', 'Accepted'));
        if (reply.code < 400) this.recipients.push(command.arg);
        return reply;
      }
      case 'data':
        return this.data(s, command.message, command.deliver);
      case 'rset':
        this.line('C: RSET');
        this.resetTransaction(s);
        return this.frontReply(250, '2.0.0', 'Flushed', false);
      case 'protocol_error':
        this.line('C: (a command the front refuses)');
        return this.frontReply(command.code, `${String(command.code)[0]}.5.2`, 'Error: refused by the front');
      case 'quit':
        this.line('C: QUIT');
        this.line(`S: 221 2.0.0 Bye`);
        this.end('quit', 'the client quit');
        return { code: 221, enhanced: '2.0.0', text: 'Bye', disconnect: true, tarpitMs: 0, fault: false, source: 'front' };
      case 'drop':
        this.line('C: (connection dropped)');
        this.end('disconnect', 'the client dropped the connection');
        return undefined;
      case 'timeout': {
        // The front's idle timer fired: it says goodbye and closes; not a policy rejection.
        this.line('C: (idle until the timeout)');
        const reply = protocolReply(421, '4.4.2', `${this.deps.hostname} Error: timeout exceeded`, true);
        this.line(`S: ${formatReply(reply)}`);
        this.end('timeout', 'the session timed out');
        return fromSmtp(reply, 0, false, 'front');
      }
    }
  }

  /** Ends the session if it is still open (fixture end): the client simply goes away. */
  abandon(): void {
    if (this.state === 'open') this.end('shutdown', 'the fixture ended');
  }

  private async connect(): Promise<Reply> {
    if (this.state !== 'new') throw new Error(`session ${this.label} already connected`);
    this.session = this.deps.engine.openSession({
      remote: { address: this.from, port: 40000 },
      hostname: this.deps.hostname,
      ...(this.listener === undefined ? {} : { listener: this.listener }),
    });
    this.state = 'open';
    this.line(`(connect from ${this.from}, session ${this.session.id})`);
    return this.policyReply(await this.session.connect(), 'connect', success(220, '', `${this.deps.hostname} ESMTP moonwatch`));
  }

  private async data(s: PolicySession, spec: MessageSpec, deliver: 'ok' | 'fail'): Promise<Reply> {
    this.line('C: DATA');
    if (this.mailFrom === undefined) return this.frontReply(503, '5.5.1', 'Error: need MAIL command');
    if (this.recipients.length === 0) return this.frontReply(503, '5.5.1', 'Error: need RCPT command');
    this.line('S: 354 End data with <CR><LF>.<CR><LF>');
    const raw = buildMessage(spec, {
      mailFrom: this.mailFrom,
      recipients: this.recipients,
      nowMs: this.deps.clock.now(),
      messageId: `${this.session!.id}.${++this.messages}@${this.deps.hostname}`,
    });
    this.line(`C: (message, ${raw.length} bytes)`);
    const verdict = await s.data({ raw }, async (message) => {
      if (deliver === 'fail') throw new Error('the fixture\'s sink refuses this message');
      this.deps.onDelivered(message);
    });
    // The session ends the transaction itself after DATA, whatever the outcome.
    this.mailFrom = undefined;
    this.recipients = [];
    return this.policyReply(verdict, 'data', success(250, '2.0.0', 'OK: message queued'));
  }

  private policyReply(verdict: Verdict, phase: SmtpPhase, ok: SmtpReply): Reply {
    const smtp = replyForVerdict(verdict, phase, this.deps.hostname) ?? ok;
    const reply = fromSmtp(smtp, verdict.tarpitMs, verdict.fault === true, 'policy');
    if (this.deps.transcript !== undefined) {
      const notes = [
        ...(reply.tarpitMs > 0 ? [`tarpit ${reply.tarpitMs} ms`] : []),
        ...(reply.fault ? ['script fault'] : []),
        ...(reply.disconnect ? ['server closes'] : []),
      ];
      this.line(`S: ${formatReply(smtp)}${notes.length > 0 ? `   [${notes.join(', ')}]` : ''}`);
    }
    if (reply.disconnect) this.end('disconnect', `the server closed it after "${formatReply(smtp)}"`);
    return reply;
  }

  /** A reply the front gives without policy; 4xx/5xx still count as rejections (the session records them). */
  private frontReply(code: number, enhanced: string, text: string, record = true): Reply {
    const smtp = protocolReply(code, enhanced, text, code === 421);
    if (record && code >= 400) this.session!.protocolRejection(code);
    this.line(`S: ${formatReply(smtp)}   [front]`);
    if (smtp.close) this.end('disconnect', `the front closed it after "${formatReply(smtp)}"`);
    return fromSmtp(smtp, 0, false, 'front');
  }

  private resetTransaction(s: PolicySession): void {
    s.reset();
    this.mailFrom = undefined;
    this.recipients = [];
  }

  private end(reason: CloseReason, why: string): void {
    if (this.state !== 'open') return;
    this.state = 'closed';
    this.closedBy = why;
    this.session!.close(reason);
  }

  private line(text: string): void {
    this.deps.transcript?.push({ session: this.label, at: this.deps.clock.now(), text });
  }
}

function success(code: number, enhanced: string, text: string): SmtpReply {
  return { code, enhanced, text, close: false };
}

function fromSmtp(r: SmtpReply, tarpitMs: number, fault: boolean, source: Reply['source']): Reply {
  return { code: r.code, enhanced: r.enhanced, text: r.text, disconnect: r.close, tarpitMs, fault, source };
}
