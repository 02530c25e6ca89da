/**
 * The SMTP dialogue on smtp-server's SMTPConnection, without the policy: the
 * rules and replies of dialogue.ts applied to a socket — command order, the
 * front's own replies, greeting delay, deadlines (command, DATA, minimum data
 * rate), caps on errors and on commands that deliver nothing, pipelining
 * checks — and the one send() every reply goes through. PolicyConnection
 * (connection.ts) adds the policy session on top.
 *
 * Replies decided by policy are substituted in send() (the session counted
 * them already); every other 4xx/5xx the library or this class produces is
 * handed to countRejection(), so the rejections metric sees both and nothing
 * twice.
 */
import type { Socket } from 'node:net';
import { SMTPConnection, type SMTPConnectionOptions } from 'smtp-server/lib/smtp-connection.js';
import type { SMTPServer } from 'smtp-server';
import type { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import type { Logger } from '../log.ts';
import type { CloseReason } from '../policy/session-api.ts';
import type { ConnectionContext } from './context.ts';
import { DialogueState, verbOfLine, type DialogueVerb } from './dialogue.ts';
import type { SmtpReply } from './reply.ts';
import { BareLineFeedError, StrictSmtpStream } from './strict-stream.ts';

function fireDeadline(conn: DialogueConnection): void {
  conn.onDeadlineTimer();
}

function greetWhenReady(conn: DialogueConnection): void {
  conn.connectionReady();
}

export interface PendingReply {
  readonly reply: SmtpReply;
  /** Protocol replies are reported to the session; policy replies were counted by it already. */
  readonly report: boolean;
}

export abstract class DialogueConnection extends SMTPConnection {
  closeReason: CloseReason | undefined;
  readonly ctx: ConnectionContext;
  /** Where the session stands in the dialogue (dialogue.ts owns the rules). */
  readonly dialogue: DialogueState;
  /** The reply the next send() gives instead of the library's. */
  protected pending: PendingReply | undefined;
  /** The first line of the next EHLO/HELO reply (the library adds the keywords). */
  protected heloLine: string | undefined;
  /** The socket has closed and the session with it. */
  protected finished = false;
  /** Monotonic ms by which the client owes the current command (or the whole DATA). */
  private deadlineAt = 0;
  /** The command's (or the whole DATA's) own deadline, before the minimum data rate tightens it. */
  private absoluteDeadlineAt = 0;
  /** DATA only: the deadline the minimum data rate sets (Infinity when off or outside DATA). */
  private rateDeadlineAt = Infinity;
  /** The one deadline timer, and the monotonic ms it is due. */
  protected deadlineTimer: NodeJS.Timeout | undefined;
  private deadlineTimerAt = 0;

  constructor(server: SMTPServer, socket: Socket, options: SMTPConnectionOptions | undefined, ctx: ConnectionContext) {
    super(server, socket, options);
    this.ctx = ctx;
    this.dialogue = new DialogueState(ctx.replies, { maxErrors: ctx.limits.maxErrors, maxNonProgressing: ctx.limits.maxNonProgressingCommands });
  }

  /** The session's logger. */
  abstract get log(): Logger;

  /** A 4xx/5xx the front gave (not policy's) reached the client: the session records it. */
  protected abstract countRejection(code: number, text: string | undefined): void;

  /** RSET: the policy session's message context goes too. */
  protected abstract onTransactionReset(): void;

  /** A chance to take a command before the dialogue rules run (XCLIENT deferral); true when taken. */
  protected takeCommand(_verb: DialogueVerb, _command: Buffer, _callback: (() => void) | undefined): boolean {
    return false;
  }

  get isFinished(): boolean {
    return this.finished;
  }

  get inTransaction(): boolean {
    return this.dialogue.mail;
  }

  /** Busy with a command, or receiving DATA. */
  get busy(): boolean {
    return this._handlerPending || (this._parser !== false && this._parser._dataMode) || Boolean(this._dataStream);
  }

  /** Ends the session with a 421 that is not a rejection of anything the client did (timeout, shutdown). */
  closeQuietly(reason: CloseReason, reply: SmtpReply): void {
    if (this._closing || this._closed) return;
    this.closeReason ??= reason;
    this.pending = { reply, report: false };
    this.send(reply.code);
    if (!this._closing) this.close();
  }

  /**
   * The library's init with the greeting delay from the config instead of its
   * fixed 100 ms: a client that talks before the greeting is refused either way
   * (the library is not `_ready` until the greeting is out).
   */
  override init(): void {
    this._setListeners(() => {
      const delay = this.ctx.limits.greetingDelayMs;
      if (delay > 0) setTimeout(greetWhenReady, delay, this).unref();
      else this.connectionReady();
    });
  }

  // ---- replies -----------------------------------------------------------

  override send(code: number, data?: string | string[] | null, context?: string | false): void {
    this.ctx.replyBatch.hold(this._socket);
    const pending = this.pending;
    this.pending = undefined;
    const reply = pending?.reply;
    // Only a 4xx/5xx needs to know whether it reached the client; checked before
    // sending, as a 421 closes the socket.
    const writable = (reply?.code ?? code) >= 400 && !this._upgrading && !this._socket.destroyed && this._socket.readyState === 'open';
    if (reply !== undefined) {
      code = reply.code;
      super.send(code, reply.enhanced === '' ? reply.text : `${reply.enhanced} ${reply.text}`, false);
    } else if (this.heloLine !== undefined && code === 250) {
      // The EHLO/HELO reply: the dialogue's first line, the library's keywords.
      const first = this.heloLine;
      this.heloLine = undefined;
      super.send(code, Array.isArray(data) ? [first, ...data.slice(1)] : first, false);
    } else {
      super.send(code, data, context);
    }
    // Success, or nothing reached the client: nothing was rejected.
    if (!writable) return;
    if (pending === undefined || pending.report) this.countRejection(code, reply?.text ?? (Array.isArray(data) ? data[0] : (data ?? undefined)));
    if (code === 421) this.closeReason ??= 'disconnect';
    if (this._closing) return;
    if (reply?.close === true) {
      this.closeReason ??= 'disconnect';
      this.close();
      return;
    }
    const enough = this.dialogue.replied(code);
    if (enough !== undefined) this.sendReply(enough, true);
  }

  protected sendReply(reply: SmtpReply, report: boolean): void {
    this.pending = { reply, report };
    this.send(reply.code);
  }

  /** Answers a command with a front reply without running it; the parser goes on once it is out. */
  protected refuseCommand(reply: SmtpReply, callback: (() => void) | undefined, report = true): void {
    this.sendReply(reply, report);
    this.armDeadline();
    // As the library does for its own refusals: never re-enter the parser synchronously.
    if (callback !== undefined) setImmediate(callback);
  }

  /** The library's greeting, with the dialogue's text. */
  protected greet(): void {
    this.ctx.replyBatch.hold(this._socket);
    const g = this.ctx.replies.greeting;
    super.send(g.code, g.text, false);
  }


  // ---- deadlines ---------------------------------------------------------

  /** The client owes us a whole command (or the whole DATA) within the deadline, however it trickles. */
  armDeadline(): void {
    if (this._closing || this._closed || this.finished) {
      clearTimeout(this.deadlineTimer);
      this.deadlineTimer = undefined;
      return;
    }
    const limits = this.ctx.limits;
    const dataMode = this._parser !== false && this._parser._dataMode;
    const ms = dataMode ? limits.dataTimeoutMs : limits.commandTimeoutMs;
    const now = this.ctx.monotonicMs();
    this.deadlineAt = now + ms;
    this.absoluteDeadlineAt = this.deadlineAt;
    this.rateDeadlineAt = Infinity;
    if (dataMode && limits.minDataRate > 0) {
      // Postfix's smtpd_min_data_rate: the DATA deadline starts one command
      // timeout away and every byte received moves it on by 1/rate seconds.
      this.rateDeadlineAt = now + limits.commandTimeoutMs;
      if (this.rateDeadlineAt < this.deadlineAt) this.deadlineAt = this.rateDeadlineAt;
    }
    // This runs for every command, so it only stores the deadline. The timer
    // moves only when the deadline comes before it is due; a later deadline is
    // picked up when the timer fires early and re-arms itself.
    if (this.deadlineTimer === undefined || this.deadlineAt < this.deadlineTimerAt) this.startDeadlineTimer(this.deadlineAt - now, now);
  }

  /** DATA bytes arrived: the minimum-rate deadline moves on, never past one command timeout from now. */
  onDataBytes(bytes: number): void {
    if (this.rateDeadlineAt === Infinity) return;
    const limits = this.ctx.limits;
    const now = this.ctx.monotonicMs();
    const extended = this.rateDeadlineAt + (bytes * 1000) / limits.minDataRate;
    const cap = now + limits.commandTimeoutMs;
    this.rateDeadlineAt = extended < cap ? extended : cap;
    // The whole-DATA deadline still bounds everything.
    this.deadlineAt = this.rateDeadlineAt < this.absoluteDeadlineAt ? this.rateDeadlineAt : this.absoluteDeadlineAt;
  }

  private startDeadlineTimer(ms: number, now: number): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimerAt = now + ms;
    // The connection rides as the timer's argument: no closure per connection.
    this.deadlineTimer = setTimeout(fireDeadline, ms, this);
    this.deadlineTimer.unref();
  }

  /** The deadline timer fired: the deadline may have moved on since it was set. */
  onDeadlineTimer(): void {
    this.deadlineTimer = undefined;
    const now = this.ctx.monotonicMs();
    if (now < this.deadlineAt) {
      this.startDeadlineTimer(this.deadlineAt - now, now);
      return;
    }
    this.onDeadline(now);
  }

  /** Ends the session as its deadline would (the parity test drives virtual time through this). */
  expireDeadline(): void {
    this.onDeadline(Infinity);
  }

  private onDeadline(now: number): void {
    // A command at work keeps the client blameless; its reply re-arms the deadline.
    if (this._handlerPending || this._closing || this._closed) return;
    if (now !== Infinity && now >= this.rateDeadlineAt && this._parser !== false && this._parser._dataMode) {
      // Too slow for the minimum data rate: a rejection of what the client did.
      this.closeReason ??= 'timeout';
      this.log.info({ minDataRate: this.ctx.limits.minDataRate, bytes: this._parser.dataBytes }, 'data below the minimum rate');
      this.sendReply(this.ctx.replies.slowData, true);
      if (!this._closing) this.close();
      return;
    }
    this.closeQuietly('timeout', this.ctx.replies.timeout);
  }

  override _onTimeout(): void {
    if (this._closing) {
      this._socket.destroy();
      return;
    }
    // Idle only counts while the client owes us input: not before our greeting
    // (a connect-phase tarpit), not while a command or the sink is at work.
    if (!this._ready || this._handlerPending || (this._dataStream && this._parser && !this._parser._dataMode)) {
      this._armTimeout();
      return;
    }
    this.closeQuietly('timeout', this.ctx.replies.timeout);
  }


  override _createParser(): SMTPStream {
    const parser = new StrictSmtpStream({ maxCommandLength: this._server.options.maxCommandLength });
    parser.oncommand = (command, callback) => {
      // CRLF is the only line end the strict parser lets through.
      parser.inputLeft -= command.length + 2;
      this._onCommand(command, callback);
    };
    parser.on('error', (err: Error) => {
      if (err instanceof BareLineFeedError) {
        this.closeReason ??= 'disconnect';
        this.sendReply(this.ctx.replies.bareLf, true);
      } else {
        this.closeReason ??= 'error';
        this.send(421, `Error: ${err.message}`);
      }
    });
    return parser;
  }

  override _onCommand(command: Buffer, callback?: () => void): void {
    // The deadline keeps running while the command is handled (onDeadline
    // ignores it then) and is re-armed when the reply is out.
    if (this._upgrading || this._closing) {
      super._onCommand(command, callback);
      return;
    }
    const verb = verbOfLine(command);
    if (this.ctx.isShuttingDown() && !this.dialogue.allowedInShutdown(verb)) {
      this.closeQuietly('shutdown', this.ctx.replies.shutdown);
      return;
    }
    if (!this._ready) {
      this.refuseCommand(this.ctx.replies.earlyTalker, callback);
      return;
    }
    if (this.takeCommand(verb, command, callback)) return;
    const tooMany = this.dialogue.nonProgress(verb);
    if (tooMany !== undefined) {
      this.closeReason ??= 'disconnect';
      this.log.info({ limit: this.ctx.limits.maxNonProgressingCommands }, 'too many commands that do not deliver mail');
      this.refuseCommand(tooMany, callback);
      return;
    }
    const refused = this.dialogue.refuse(verb);
    if (refused !== undefined) {
      this.refuseCommand(refused, callback);
      return;
    }
    if (verb === 'DATA' && this._parser !== false && (this._parser as StrictSmtpStream).inputLeft > 0) {
      // RFC 2920 §3.1: DATA ends a pipelined group; the client must wait for
      // the 354. Whatever came with it is not read as a message.
      this.closeReason ??= 'disconnect';
      this.log.info({ bytes: (this._parser as StrictSmtpStream).inputLeft }, 'message data sent before the 354');
      this.refuseCommand(this.ctx.replies.pipelinedData, callback);
      return;
    }
    // The parser waits for this command's callback before it hands over the
    // next one, so one field holds it: no closure per command.
    this.commandDone = callback;
    super._onCommand(command, this.afterCommand);
  }

  private commandDone: (() => void) | undefined;
  /** The reply is out: re-arm the deadline and let the parser go on. Made once per connection. */
  private readonly afterCommand = (): void => {
    const done = this.commandDone;
    this.commandDone = undefined;
    this.armDeadline();
    done?.();
  };

  override handler_RSET(_command: Buffer, callback: () => void): void {
    this.onTransactionReset();
    this.dialogue.reset();
    this._resetSession();
    this.sendReply(this.ctx.replies.rsetOk, false);
    callback();
  }

  override handler_QUIT(_command: Buffer, callback: () => void): void {
    this.closeReason ??= 'quit';
    this.sendReply(this.ctx.replies.bye, false);
    // As Postfix's smtpd does, the connection is closed once the 221 is with
    // the kernel, not read on until the client's FIN: nothing may follow QUIT
    // (RFC 2920 §3.1). The library's close() would shut down the write side and
    // read on, and a client that then resets (smtp-source does) costs an error
    // with its stack trace, a read and a shutdown per session. TLS ends the
    // library's way, with its close_notify.
    const socket = this._socket;
    this.ctx.replyBatch.release(socket);
    if (!('encrypted' in socket) && !socket.destroyed && socket.writableLength === 0) socket.destroy();
    this.close();
    callback();
  }
}
