/**
 * The SMTP dialogue without sockets: which command may come when, what a
 * command resets, the replies moonwatch gives itself, and which of them count
 * as rejections. The listener (connection.ts, on smtp-server) and the fixture
 * harness (src/harness/session-driver.ts) both ask this module, so a fixture
 * that passes in the harness sees the same codes, texts and disconnects from
 * `moonwatch serve` — test/smtp/dialogue-parity.test.ts holds them to it.
 *
 * Audit events: the PolicySession records connections, policy rejections and
 * receptions itself. A reply the front gives on its own is a rejection when it
 * is 4xx/5xx and `counted` (order errors, syntax, limits, too many errors,
 * host faults); timeouts and shutdown are not (the client did nothing wrong).
 */
import type { Verdict } from '../policy/verdict.ts';
import { protocolReply, type SmtpReply } from './reply.ts';

/** Commands the dialogue rules know; anything else is `OTHER`. */
export type DialogueVerb = 'EHLO' | 'HELO' | 'MAIL' | 'RCPT' | 'DATA' | 'RSET' | 'NOOP' | 'HELP' | 'VRFY' | 'QUIT' | 'XCLIENT' | 'STARTTLS' | 'OTHER';

const VERBS = new Set<string>(['EHLO', 'HELO', 'MAIL', 'RCPT', 'DATA', 'RSET', 'NOOP', 'HELP', 'VRFY', 'QUIT', 'XCLIENT', 'STARTTLS']);

/** The verb of a command line (the first word, upper-cased; `OTHER` when unknown). */
export function verbOf(line: string): DialogueVerb {
  const sp = line.indexOf(' ');
  const word = (sp === -1 ? line : line.slice(0, sp)).trim().toUpperCase();
  return VERBS.has(word) ? (word as DialogueVerb) : 'OTHER';
}

function key4(a: number, b: number, c: number, d: number): number {
  return (((a | 0x20) << 24) | ((b | 0x20) << 16) | ((c | 0x20) << 8) | (d | 0x20)) >>> 0;
}

const KEYED = new Map<number, DialogueVerb>(
  (['EHLO', 'HELO', 'MAIL', 'RCPT', 'DATA', 'RSET', 'NOOP', 'HELP', 'VRFY', 'QUIT'] as const).map((v) => [key4(v.charCodeAt(0), v.charCodeAt(1), v.charCodeAt(2), v.charCodeAt(3)), v]),
);
const XCLI = key4(0x58, 0x43, 0x4c, 0x49);
const STAR = key4(0x53, 0x54, 0x41, 0x52);

/**
 * verbOf for a command line as the parser hands it over, without making a
 * string of it: this runs for every command.
 */
export function verbOfLine(line: Buffer): DialogueVerb {
  const n = line.length;
  if (n < 4) return 'OTHER';
  const k = key4(line[0]!, line[1]!, line[2]!, line[3]!);
  if (n === 4 || line[4] === 0x20) return KEYED.get(k) ?? 'OTHER';
  if (k === XCLI || k === STAR) return verbOf(line.toString('latin1', 0, 9));
  return 'OTHER';
}

/** Commands that do not move a session towards a message (issue 16: a cap on them). */
const NON_PROGRESSING = new Set<DialogueVerb>(['NOOP', 'RSET', 'HELP', 'VRFY']);

/** Commands a session may still use once shutdown began, while a transaction is open. */
const SHUTDOWN_IN_TRANSACTION = new Set<DialogueVerb>(['RCPT', 'DATA', 'RSET', 'NOOP', 'QUIT']);

/** The limits the dialogue enforces (a subset of the config's `limits:`). */
export interface DialogueLimits {
  /** 4xx/5xx replies in one session before it is closed with 421. */
  readonly maxErrors: number;
  /** NOOP/RSET/HELP/VRFY and repeated EHLO/HELO in one session before 421. */
  readonly maxNonProgressing: number;
}

/** The host-fault verdict: an exception where the engine should have returned a verdict. */
export const HOST_FAULT_VERDICT: Verdict = Object.freeze({ action: 'tempfail', code: 451, enhanced: '4.3.0', text: 'Local error in processing', tarpitMs: 0 });

/** The replies moonwatch gives itself, for one hostname and banner. Texts exist here and nowhere else. */
export class DialogueReplies {
  readonly greeting: SmtpReply;
  readonly mailOk: SmtpReply = ok(250, '2.1.0', 'Accepted');
  readonly rcptOk: SmtpReply = ok(250, '2.1.5', 'Accepted');
  readonly dataGo: SmtpReply = ok(354, '', 'End data with <CR><LF>.<CR><LF>');
  readonly rsetOk: SmtpReply = ok(250, '2.0.0', 'Flushed');
  readonly bye: SmtpReply = { code: 221, enhanced: '2.0.0', text: 'Bye', close: true };
  readonly needHelo: SmtpReply = protocolReply(503, '5.5.1', 'Error: send HELO/EHLO first');
  readonly nestedMail: SmtpReply = protocolReply(503, '5.5.1', 'Error: nested MAIL command');
  readonly needMail: SmtpReply = protocolReply(503, '5.5.1', 'Error: need MAIL command');
  readonly needRcpt: SmtpReply = protocolReply(503, '5.5.1', 'Error: need RCPT command');
  readonly timeout: SmtpReply;
  readonly shutdown: SmtpReply;
  readonly tooManyErrors: SmtpReply;
  readonly tooManyNonProgressing: SmtpReply;
  readonly bareLf: SmtpReply;
  /** A command before the greeting (an early talker, the greeting delay's catch). */
  readonly earlyTalker: SmtpReply;
  /** RFC 2920 §3.1: the client must wait for the 354 before it sends the message. */
  readonly pipelinedData: SmtpReply = protocolReply(554, '5.5.0', 'Error: message data sent before the 354 reply', true);
  readonly slowData: SmtpReply;
  readonly hostFault: SmtpReply = protocolReply(451, '4.3.0', 'Local error in processing');

  constructor(
    readonly hostname: string,
    readonly banner: string,
  ) {
    this.greeting = ok(220, '', `${hostname} ESMTP${banner === '' ? '' : ` ${banner}`}`);
    this.timeout = protocolReply(421, '4.4.2', `${hostname} Error: timeout exceeded`);
    this.shutdown = protocolReply(421, '4.3.2', `${hostname} Service shutting down, try again later`);
    this.tooManyErrors = protocolReply(421, '4.7.0', `${hostname} Error: too many errors`);
    this.tooManyNonProgressing = protocolReply(421, '4.7.0', `${hostname} Error: too many commands that do not deliver mail`);
    this.bareLf = protocolReply(521, '5.5.2', `${hostname} Error: bare <LF> received`, true);
    this.earlyTalker = protocolReply(421, '4.7.0', `${hostname} Error: you talk too soon`);
    this.slowData = protocolReply(421, '4.4.2', `${hostname} Error: message data too slow`);
  }

  /** The first line of the EHLO/HELO reply (the EHLO keywords follow it on the listener). */
  helo(clientAddress: string, clientName?: string): SmtpReply {
    return ok(250, '', `${this.hostname} Hello ${clientName !== undefined && clientName !== '' ? clientName : `[${clientAddress}]`}`);
  }

  /** DATA accepted: the sink has the message. */
  queued(queueId: string): SmtpReply {
    return ok(250, '2.6.0', `Ok: queued as ${queueId}`);
  }

  /**
   * A command the front refuses itself (a fixture's `protocol_error: CODE`).
   * 500 is the reply to an unknown command, as smtp-server words it; other
   * codes get a generic text.
   */
  protocolError(code: number): SmtpReply {
    if (code === 500) return protocolReply(500, '5.5.2', 'Error: command not recognized');
    return protocolReply(code, `${String(code)[0]}.5.2`, 'Error: refused by the front');
  }

  tooManyConnections(perIp: boolean): SmtpReply {
    return protocolReply(421, '4.7.0', `${this.hostname} Too many connections${perIp ? ' from your address' : ''}, try again later`);
  }

  localError(): SmtpReply {
    return protocolReply(421, '4.3.0', `${this.hostname} Local error, try again later`);
  }
}

function ok(code: number, enhanced: string, text: string): SmtpReply {
  return { code, enhanced, text, close: false };
}

/** The queue id of a message: the session's id and the transaction's number on the connection. */
export function queueIdOf(sessionId: string, transaction: number): string {
  return `${sessionId}.${transaction}`;
}

/**
 * One session's place in the dialogue. The front tells it what happened
 * (`accepted`, `replied`, `reset`) and asks it what to do (`refuse`,
 * `resetsTransaction`, `nonProgress`); it never sends anything itself.
 */
export class DialogueState {
  /** EHLO/HELO accepted since the (last) greeting. */
  helo = false;
  /** MAIL accepted in the open transaction. */
  mail = false;
  rcpts = 0;
  /** DATA finished: the session's message context is reset before the next MAIL or EHLO. */
  transactionDone = false;
  /** DATA commands finished on this connection (the queue id's second part counts from 1). */
  dataDone = 0;
  private errors = 0;
  private nonProgressing = 0;
  private heloSeen = false;

  constructor(
    readonly replies: DialogueReplies,
    private readonly limits: DialogueLimits,
  ) {}

  /** The reply that refuses `verb` for its order, or undefined when it may run. */
  refuse(verb: DialogueVerb): SmtpReply | undefined {
    switch (verb) {
      case 'MAIL':
        if (!this.helo) return this.replies.needHelo;
        return this.mail ? this.replies.nestedMail : undefined;
      case 'RCPT':
        if (!this.helo) return this.replies.needHelo;
        return this.mail ? undefined : this.replies.needMail;
      case 'DATA':
        if (!this.helo) return this.replies.needHelo;
        return this.rcpts > 0 ? undefined : this.replies.needRcpt;
      default:
        return undefined;
    }
  }

  /** Whether the policy session's message context must be reset before `verb` runs (RFC 5321 §4.1.4). */
  resetsTransaction(verb: DialogueVerb): boolean {
    switch (verb) {
      case 'EHLO':
      case 'HELO':
        return this.mail || this.transactionDone;
      case 'RSET':
        return true;
      case 'MAIL':
        return this.transactionDone;
      default:
        return false;
    }
  }

  /** The transaction is gone (RSET, EHLO, a new MAIL after DATA, STARTTLS, XCLIENT). */
  reset(): void {
    this.mail = false;
    this.rcpts = 0;
    this.transactionDone = false;
  }

  /** A new session starts on the connection (XCLIENT, STARTTLS): EHLO is owed again. */
  restart(): void {
    this.reset();
    this.helo = false;
    this.heloSeen = false;
  }

  /**
   * Counts a command that does not move the session towards a message; the
   * 421 that ends the session when it is one too many.
   */
  nonProgress(verb: DialogueVerb): SmtpReply | undefined {
    let counts = NON_PROGRESSING.has(verb);
    if (verb === 'EHLO' || verb === 'HELO') {
      counts = this.heloSeen;
      this.heloSeen = true;
    }
    if (!counts) return undefined;
    this.nonProgressing += 1;
    return this.nonProgressing > this.limits.maxNonProgressing ? this.replies.tooManyNonProgressing : undefined;
  }

  /** The command succeeded: the state moves on. */
  accepted(verb: DialogueVerb): void {
    switch (verb) {
      case 'EHLO':
      case 'HELO':
        this.helo = true;
        return;
      case 'MAIL':
        this.mail = true;
        return;
      case 'RCPT':
        this.rcpts += 1;
        return;
      default:
        return;
    }
  }

  /** EHLO/HELO was refused (by policy): MAIL needs a new one. */
  heloRefused(): void {
    this.helo = false;
  }

  /** DATA is over, whatever its outcome: the library and the harness both end the transaction. A delivered message is progress. */
  dataFinished(accepted: boolean): void {
    this.dataDone += 1;
    if (accepted) this.nonProgressing = 0;
    this.mail = false;
    this.rcpts = 0;
    this.transactionDone = true;
  }

  /** The number of the transaction now open (for the queue id). */
  get transaction(): number {
    return this.dataDone + 1;
  }

  /**
   * A 4xx/5xx reached the client without closing the session: the 421 that
   * ends it when that was one error too many.
   */
  replied(code: number): SmtpReply | undefined {
    if (code < 400) return undefined;
    this.errors += 1;
    return this.errors >= this.limits.maxErrors ? this.replies.tooManyErrors : undefined;
  }

  /** During shutdown: whether `verb` may still run (QUIT; a transaction may finish). */
  allowedInShutdown(verb: DialogueVerb): boolean {
    return verb === 'QUIT' || (this.mail && SHUTDOWN_IN_TRANSACTION.has(verb));
  }
}

/** Whether a front reply counts as a rejection (the session records it). Timeouts and shutdown do not. */
export function countsAsRejection(reply: SmtpReply, replies: DialogueReplies): boolean {
  return reply.code >= 400 && reply !== replies.timeout && reply !== replies.shutdown;
}
