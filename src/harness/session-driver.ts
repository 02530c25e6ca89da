/**
 * The harness as an SMTP front: it turns fixture commands into calls on one
 * PolicySession and the verdicts back into replies. Everything the SMTP
 * listener decides without a socket — command order, what a command resets,
 * the replies the front gives itself, which of them count as rejections, when
 * the session ends — comes from the listener's own dialogue module
 * (src/smtp/dialogue.ts), so a fixture sees the codes, texts and disconnects
 * a real client would. test/smtp/dialogue-parity.test.ts runs every fixture
 * through both and compares.
 *
 * The runner opens sessions through a SessionFront; this file's is the
 * in-process one. The parity test plugs in a front that drives the real
 * listener over a socket instead.
 */
import type { AuditStore } from '../audit/store.ts';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { AcceptedMessage, CloseReason, PolicyEngine, PolicySession } from '../policy/session-api.ts';
import type { Verdict } from '../policy/verdict.ts';
import { countsAsRejection, DialogueReplies, DialogueState, queueIdOf, type DialogueLimits, type DialogueVerb } from '../smtp/dialogue.ts';
import { receivedHeader } from '../smtp/received.ts';
import { formatReply, replyForVerdict, type SmtpPhase, type SmtpReply } from '../smtp/reply.ts';
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
  /** `front` when the SMTP front answered without asking the policy. */
  readonly source: 'policy' | 'front';
}

/** One fixture session, whichever front runs it. */
export interface FixtureSession {
  readonly label: string;
  readonly from: string;
  readonly isOpen: boolean;
  /** Why the server ended the session, for "session closed" failures. */
  readonly closedBy: string | undefined;
  /** Runs one command; undefined for commands that get no reply (drop). */
  run(command: Command): Promise<Reply | undefined>;
  /** Ends the session if it is still open (fixture end): the client simply goes away. */
  abandon(): Promise<void>;
}

export interface FrontDeps {
  readonly engine: PolicyEngine;
  readonly store: AuditStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly hostname: string;
  /** Text after "ESMTP" in the greeting. */
  readonly banner: string;
  readonly limits: DialogueLimits;
  /** Receives every message the policy accepted. */
  readonly onDelivered: (message: AcceptedMessage) => void;
}

/** Where the runner opens its sessions. */
export interface SessionFront {
  /** `transcript` undefined: keep none (bulk traffic). */
  open(label: string, from: string, listener: string | undefined, transcript: TranscriptLine[] | undefined): FixtureSession;
  /** After the fixture's last step (every session abandoned), before the engine closes. */
  close(): Promise<void>;
}

export type FrontFactory = (deps: FrontDeps) => Promise<SessionFront>;

/** The in-process front: every session is a DrivenSession on the fixture's engine. */
export const harnessFront: FrontFactory = async (deps) => {
  // Built once: bulk steps open thousands of sessions.
  const base: DriverDeps = { engine: deps.engine, clock: deps.clock, replies: new DialogueReplies(deps.hostname, deps.banner), limits: deps.limits, onDelivered: deps.onDelivered };
  return {
    open: (label, from, listener, transcript) => new DrivenSession(transcript === undefined ? base : { ...base, transcript }, label, from, listener),
    close: async () => {},
  };
};

export interface DriverDeps {
  readonly engine: PolicyEngine;
  readonly clock: Clock;
  readonly replies: DialogueReplies;
  readonly limits: DialogueLimits;
  readonly onDelivered: (message: AcceptedMessage) => void;
  readonly transcript?: TranscriptLine[];
}

type State = 'new' | 'open' | 'closed';

const VERB: Record<'ehlo' | 'helo' | 'mail' | 'rcpt' | 'data' | 'rset', DialogueVerb> = {
  ehlo: 'EHLO',
  helo: 'HELO',
  mail: 'MAIL',
  rcpt: 'RCPT',
  data: 'DATA',
  rset: 'RSET',
};

export class DrivenSession implements FixtureSession {
  private session: PolicySession | undefined;
  private state: State = 'new';
  private readonly dialogue: DialogueState;
  private mailFrom = '';
  private recipients: string[] = [];
  /** The last EHLO/HELO (its verb, and the name when accepted): the Received header's protocol and name. */
  private heloVerb: DialogueVerb = 'HELO';
  private heloName = '';
  closedBy: string | undefined;

  constructor(
    private readonly deps: DriverDeps,
    readonly label: string,
    readonly from: string,
    private readonly listener?: string,
  ) {
    this.dialogue = new DialogueState(deps.replies, deps.limits);
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  async run(command: Command): Promise<Reply | undefined> {
    if (command.verb === 'connect') return this.connect();
    if (this.state !== 'open') throw new Error(`session ${this.label} is not open`);
    const s = this.session!;
    const d = this.dialogue;
    const replies = this.deps.replies;
    switch (command.verb) {
      case 'ehlo':
      case 'helo':
      case 'mail':
      case 'rcpt':
      case 'data':
      case 'rset': {
        const verb = VERB[command.verb];
        this.line(`C: ${commandLine(command)}`);
        const before = d.nonProgress(verb) ?? d.refuse(verb);
        if (before !== undefined) return this.frontReply(before);
        if (d.resetsTransaction(verb)) this.resetTransaction(s);
        switch (command.verb) {
          case 'ehlo':
          case 'helo': {
            this.heloVerb = verb;
            const reply = this.policyReply(await s.ehlo(command.arg), 'ehlo', replies.helo(this.from));
            if (reply.code < 400) {
              d.accepted(verb);
              this.heloName = command.arg.toLowerCase();
            } else {
              d.heloRefused();
              this.heloName = '';
            }
            return reply;
          }
          case 'mail': {
            const reply = this.policyReply(await s.mailFrom(command.arg), 'mailfrom', replies.mailOk);
            if (reply.code < 400) {
              d.accepted(verb);
              this.mailFrom = command.arg;
            }
            return reply;
          }
          case 'rcpt': {
            const reply = this.policyReply(await s.rcptTo(command.arg), 'rcptto', replies.rcptOk);
            if (reply.code < 400) {
              d.accepted(verb);
              this.recipients.push(command.arg);
            }
            return reply;
          }
          case 'data':
            return this.data(s, command.message, command.deliver);
          case 'rset':
            return this.frontReply(replies.rsetOk);
        }
        break;
      }
      case 'protocol_error':
        this.line('C: (a command the front refuses)');
        return this.frontReply(replies.protocolError(command.code));
      case 'quit':
        this.line('C: QUIT');
        this.line(`S: ${formatReply(replies.bye)}`);
        this.end('quit', 'the client quit');
        return fromSmtp(replies.bye, 0, false, 'front');
      case 'drop':
        this.line('C: (connection dropped)');
        this.end('disconnect', 'the client dropped the connection');
        return undefined;
      case 'timeout':
        // The front's deadline passed: it says goodbye and closes; not a rejection.
        this.line('C: (idle until the timeout)');
        return this.frontReply(replies.timeout, 'timeout');
    }
  }

  async abandon(): Promise<void> {
    if (this.state === 'open') this.end('shutdown', 'the fixture ended');
  }

  private async connect(): Promise<Reply> {
    if (this.state !== 'new') throw new Error(`session ${this.label} already connected`);
    this.session = this.deps.engine.openSession({
      remote: { address: this.from, port: 40000 },
      hostname: this.deps.replies.hostname,
      ...(this.listener === undefined ? {} : { listener: this.listener }),
    });
    this.state = 'open';
    this.line(`(connect from ${this.from}, session ${this.session.id})`);
    return this.policyReply(await this.session.connect(), 'connect', this.deps.replies.greeting);
  }

  private async data(s: PolicySession, spec: MessageSpec, deliver: 'ok' | 'fail'): Promise<Reply> {
    const d = this.dialogue;
    this.line(`S: ${formatReply(this.deps.replies.dataGo)}`);
    const raw = buildMessage(spec, {
      mailFrom: this.mailFrom,
      recipients: this.recipients,
      nowMs: this.deps.clock.now(),
      messageId: `${s.id}.${d.transaction}@${this.deps.replies.hostname}`,
    });
    this.line(`C: (message, ${raw.length} bytes)`);
    // The trace header the listener puts in front of every message, so the policy sees the same bytes.
    const received = receivedHeader({
      helo: this.heloName,
      address: this.from,
      hostname: this.deps.replies.hostname,
      protocol: this.heloVerb === 'EHLO' ? 'ESMTP' : 'SMTP',
      id: s.id,
      recipients: this.recipients,
      nowMs: this.deps.clock.now(),
    });
    // One buffer, header and message, as the listener's reader builds it.
    const full = Buffer.allocUnsafe(received.length + raw.length);
    full.write(received, 0, 'latin1');
    raw.copy(full, received.length);
    const verdict = await s.data({ raw: full }, async (message) => {
      if (deliver === 'fail') throw new Error('the fixture\'s sink refuses this message');
      this.deps.onDelivered(message);
    });
    const queued = this.deps.replies.queued(queueIdOf(s.id, d.transaction));
    // The session ends the transaction itself after DATA, whatever the outcome.
    // As on the listener: only the front's own 250 means the message was taken (a custom reply is the policy's).
    d.dataFinished(replyForVerdict(verdict, 'data', this.deps.replies.hostname) === undefined);
    this.mailFrom = '';
    this.recipients = [];
    return this.policyReply(verdict, 'data', queued);
  }

  private policyReply(verdict: Verdict, phase: SmtpPhase, ok: SmtpReply): Reply {
    const smtp = replyForVerdict(verdict, phase, this.deps.replies.hostname) ?? ok;
    const reply = fromSmtp(smtp, verdict.tarpitMs, verdict.fault === true, 'policy');
    if (this.deps.transcript !== undefined) {
      const notes = [
        ...(reply.tarpitMs > 0 ? [`tarpit ${reply.tarpitMs} ms`] : []),
        ...(reply.fault ? ['script fault'] : []),
        ...(reply.disconnect ? ['server closes'] : []),
      ];
      this.line(`S: ${formatReply(smtp)}${notes.length > 0 ? `   [${notes.join(', ')}]` : ''}`);
    }
    if (reply.disconnect) {
      this.end('disconnect', `the server closed it after "${formatReply(smtp)}"`);
      return reply;
    }
    return this.afterReply(reply, smtp);
  }

  /** A reply the front gives without policy; the dialogue says whether it counts as a rejection. */
  private frontReply(smtp: SmtpReply, reason: CloseReason = 'disconnect'): Reply {
    if (countsAsRejection(smtp, this.deps.replies)) this.session!.protocolRejection(smtp.code);
    this.line(`S: ${formatReply(smtp)}   [front]`);
    const reply = fromSmtp(smtp, 0, false, 'front');
    if (smtp.close) {
      this.end(reason, `the front closed it after "${formatReply(smtp)}"`);
      return reply;
    }
    return this.afterReply(reply, smtp);
  }

  /** A 4xx/5xx that left the session open may have been one error too many: the listener then closes with 421. */
  private afterReply(reply: Reply, smtp: SmtpReply): Reply {
    const enough = this.dialogue.replied(smtp.code);
    if (enough === undefined) return reply;
    this.session!.protocolRejection(enough.code);
    this.line(`S: ${formatReply(enough)}   [front]`);
    this.end('disconnect', `the front closed it after "${formatReply(enough)}"`);
    return { ...reply, disconnect: true };
  }

  private resetTransaction(s: PolicySession): void {
    s.reset();
    this.dialogue.reset();
    this.mailFrom = '';
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

/** A command as the client writes it (DATA's message is shown separately). */
export function commandLine(command: Command): string {
  switch (command.verb) {
    case 'ehlo':
    case 'helo':
      return `${command.verb.toUpperCase()} ${command.arg}`;
    case 'mail':
      return `MAIL FROM:<${command.arg}>`;
    case 'rcpt':
      return `RCPT TO:<${command.arg}>`;
    default:
      return command.verb.toUpperCase();
  }
}

function fromSmtp(r: SmtpReply, tarpitMs: number, fault: boolean, source: Reply['source']): Reply {
  return { code: r.code, enhanced: r.enhanced, text: r.text, disconnect: r.close, tarpitMs, fault, source };
}
