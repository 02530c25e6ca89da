/**
 * One SMTP connection driving one PolicySession. This subclasses the library's
 * SMTPConnection because the library has no hook for EHLO/HELO, XCLIENT
 * restarts or its own protocol replies; everything else (parsing, pipelining,
 * dot-unstuffing, address syntax) stays the library's.
 *
 * Every reply goes through send(): replies decided by policy are substituted
 * there (the session has already counted them), and every other 4xx/5xx the
 * library or this class produces is reported with protocolRejection(), so the
 * rejections metric sees both and nothing twice.
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { SMTPConnection, type SMTPConnectionOptions } from 'smtp-server/lib/smtp-connection.js';
import type { SMTPServer } from 'smtp-server';
import type { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { CloseReason, PolicySession } from '../policy/session-api.ts';
import type { Verdict } from '../policy/verdict.ts';
import type { ConnectionContext } from './context.ts';
import { protocolReply, replyForVerdict, type SmtpPhase, type SmtpReply } from './reply.ts';
import { BareLineFeedError, StrictSmtpStream } from './strict-stream.ts';

/** Commands a session may still use once shutdown began, while a transaction is open. */
const SHUTDOWN_IN_TRANSACTION = new Set(['RCPT', 'DATA', 'RSET', 'NOOP', 'QUIT']);

function fireDeadline(conn: PolicyConnection): void {
  conn.onDeadlineTimer();
}

const HOST_BUG: Verdict = Object.freeze({ action: 'tempfail', code: 451, enhanced: '4.3.0', text: 'Local error in processing', tarpitMs: 0 });

interface PendingReply {
  readonly reply: SmtpReply;
  /** Protocol replies are reported to the session; policy replies were counted by it already. */
  readonly report: boolean;
}

export class PolicyConnection extends SMTPConnection {
  policy!: PolicySession;
  closeReason: CloseReason | undefined;
  readonly ctx: ConnectionContext;
  private pending: PendingReply | undefined;
  private errorCount = 0;
  private transactionDone = false;
  /** Built on first use: most sessions log nothing at the usual levels. */
  private sessionLog: Logger | undefined;
  /** The peer the current session was opened for (XCLIENT changes it before the restart). */
  private sessionPeer = '';
  /** Monotonic ms by which the client owes the current command (or the whole DATA). */
  private deadlineAt = 0;
  /** The one deadline timer, and the monotonic ms it is due. */
  private deadlineTimer: NodeJS.Timeout | undefined;
  private deadlineTimerAt = 0;
  /** Ends a running tarpit early; set while one runs. */
  private cancelTarpit: (() => void) | undefined;
  /** What decide() found besides the reply: whether it is a protocol reply to report. */
  private decidedReport = false;
  private finished = false;
  private xclientActive = false;
  private xclientHadAddr = false;
  private xclientRestart: Promise<void> | undefined;
  private messages = 0;
  private readonly openedAt: number;
  /** Set by the listener: gives back the connection's slot once its socket is closed. */
  onGone: (() => void) | undefined;

  constructor(server: SMTPServer, socket: Socket, options: SMTPConnectionOptions | undefined, ctx: ConnectionContext) {
    super(server, socket, options);
    this.ctx = ctx;
    this.openedAt = ctx.monotonicMs();
    this.openPolicy();
  }

  // ---- lifecycle ---------------------------------------------------------

  /** Counts the connection and opens the gauge for the current remote address. */
  private openPolicy(): void {
    this.policy = this.ctx.engine.openSession({
      remote: { address: this.remoteAddress, port: this.remotePort },
      local: { address: this.localAddress, port: this.localPort },
      listener: this.ctx.listenerId(),
      hostname: this.ctx.hostname,
    });
    this.sessionLog = undefined;
    this.sessionPeer = this.remoteAddress;
    this.errorCount = 0;
    this.transactionDone = false;
    if (this.ctx.logger.isLevelEnabled('info')) {
      this.log.info({ port: this.remotePort, listener: this.ctx.listenerId(), generation: this.policy.generation }, 'connection opened');
    }
  }

  /** The session's logger (session id and peer bound). */
  get log(): Logger {
    // A pino child serialises its bindings when made: only pay that when a line is written.
    return (this.sessionLog ??= this.ctx.logger.child({ session: this.policy.id, peer: this.sessionPeer }));
  }

  /** Socket closed, whatever the cause: the one place the session and its gauge are closed. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    this.cancelTarpit?.();
    const reason = this.closeReason ?? 'reset';
    this.policy.close(reason);
    if (this.ctx.logger.isLevelEnabled('info')) this.log.info({ reason, messages: this.messages, duration_ms: Math.round(this.ctx.monotonicMs() - this.openedAt) }, 'connection closed');
  }

  /** The socket has closed and the session with it. */
  get isFinished(): boolean {
    return this.finished;
  }

  get inTransaction(): boolean {
    // Before the greeting the library has not built the envelope yet.
    return Boolean((this.session.envelope as typeof this.session.envelope | undefined)?.mailFrom);
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

  // ---- replies -----------------------------------------------------------

  override send(code: number, data?: string | string[] | null, context?: string | false): void {
    const pending = this.pending;
    this.pending = undefined;
    const reply = pending?.reply;
    // Only a 4xx/5xx needs to know whether it reached the client; checked before
    // sending, as a 421 closes the socket.
    const writable = (reply?.code ?? code) >= 400 && !this._upgrading && !this._socket.destroyed && this._socket.readyState === 'open';
    if (reply !== undefined) {
      code = reply.code;
      super.send(code, reply.enhanced === '' ? reply.text : `${reply.enhanced} ${reply.text}`, false);
    } else {
      super.send(code, data, context);
    }
    // Success, or nothing reached the client: nothing was rejected.
    if (!writable) return;
    if (pending === undefined || pending.report) {
      this.policy.protocolRejection(code);
      this.log.info({ code, text: reply?.text ?? (Array.isArray(data) ? data[0] : data) }, 'protocol rejection');
    }
    if (code === 421) this.closeReason ??= 'disconnect';
    if (this._closing) return;
    if (reply?.close === true) {
      this.closeReason ??= 'disconnect';
      this.close();
      return;
    }
    this.errorCount += 1;
    if (this.errorCount >= this.ctx.limits.maxErrors) {
      this.sendReply(protocolReply(421, '4.7.0', `${this.ctx.hostname} Error: too many errors`), true);
    }
  }

  private sendReply(reply: SmtpReply, report: boolean): void {
    this.pending = { reply, report };
    this.send(reply.code);
  }

  /**
   * Runs one phase and returns its reply (undefined: the library's own success
   * reply); decidedReport then says whether the reply is a protocol rejection.
   */
  private async decide(phase: SmtpPhase, arg?: string): Promise<SmtpReply | undefined> {
    this.decidedReport = false;
    // The socket is gone: no reply will be read, and the session is closed.
    if (this.finished) return undefined;
    let verdict: Verdict;
    try {
      verdict = await this.runPhase(phase, arg);
    } catch (err) {
      // The engine turns script faults into verdicts; an exception here is a host bug.
      this.log.error({ phase, err: errorMessage(err) }, 'policy phase failed');
      verdict = HOST_BUG;
    }
    if (verdict.tarpitMs > 0) await this.tarpit(verdict.tarpitMs);
    this.decidedReport = verdict === HOST_BUG;
    return replyForVerdict(verdict, phase, this.ctx.hostname);
  }

  /** A switch rather than a closure per call: this runs for every command. */
  private runPhase(phase: SmtpPhase, arg: string | undefined): Promise<Verdict> {
    switch (phase) {
      case 'connect':
        return this.policy.connect();
      case 'ehlo':
        return this.policy.ehlo(arg ?? '');
      case 'mailfrom':
        return this.policy.mailFrom(arg ?? '');
      case 'rcptto':
        return this.policy.rcptTo(arg ?? '');
      case 'data':
        throw new Error('the data phase is run by runDataPhase');
    }
  }

  /** Holds the reply for `ms`; cut short when the connection goes away. */
  tarpitFor(ms: number): Promise<void> {
    return this.tarpit(ms);
  }

  private tarpit(ms: number): Promise<void> {
    // A timer, not a busy wait: hundreds of tarpitted sessions cost nothing.
    // (No AbortController: one per connection costs a DOMException at close.)
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.cancelTarpit = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.cancelTarpit = done;
    });
  }

  // ---- deadlines ---------------------------------------------------------

  /** The client owes us a whole command (or the whole DATA) within the deadline, however it trickles. */
  armDeadline(): void {
    if (this._closing || this._closed || this.finished) {
      clearTimeout(this.deadlineTimer);
      this.deadlineTimer = undefined;
      return;
    }
    const dataMode = this._parser !== false && this._parser._dataMode;
    const ms = dataMode ? this.ctx.limits.dataTimeoutMs : this.ctx.limits.commandTimeoutMs;
    const now = this.ctx.monotonicMs();
    this.deadlineAt = now + ms;
    // This runs for every command, so it only stores the deadline. The timer
    // moves only when the deadline comes before it is due; a later deadline is
    // picked up when the timer fires early and re-arms itself.
    if (this.deadlineTimer === undefined || this.deadlineAt < this.deadlineTimerAt) this.startDeadlineTimer(ms, now);
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
    this.onDeadline();
  }

  private onDeadline(): void {
    // A command at work keeps the client blameless; its reply re-arms the deadline.
    if (this._handlerPending || this._closing || this._closed) return;
    this.closeQuietly('timeout', protocolReply(421, '4.4.2', `${this.ctx.hostname} Error: timeout exceeded`));
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
    this.closeQuietly('timeout', protocolReply(421, '4.4.2', `${this.ctx.hostname} Error: timeout exceeded`));
  }

  /**
   * The library's close handler, for the plain socket and, after STARTTLS, the
   * TLS one (including a failed handshake): the one place a connection ends.
   */
  override _onCloseEvent(hadError: boolean): void {
    super._onCloseEvent(hadError);
    this.finish();
    const gone = this.onGone;
    this.onGone = undefined;
    gone?.();
  }

  /** STARTTLS done: RFC 3207 §4.2, nothing the client said before it stands; EHLO comes again. */
  onPolicySecure(): void {
    this.policy.reset();
    this.transactionDone = false;
    if (this.ctx.logger.isLevelEnabled('info')) this.log.info({ cipher: this._socket instanceof TLSSocket ? this._socket.getCipher().name : undefined }, 'tls established');
  }

  override _onError(err: Error & { code?: string | undefined; remoteAddress?: string | undefined }): void {
    // One line per connection: a failed TLS handshake reports the same error twice.
    const first = this.closeReason === undefined;
    this.closeReason ??= err.code === 'ECONNRESET' || err.code === 'EPIPE' ? 'reset' : 'error';
    if (first && this.closeReason === 'error') this.log.warn({ err: err.message.trim(), code: err.code }, 'connection error');
    super._onError(err);
  }

  override _createParser(): SMTPStream {
    const parser = new StrictSmtpStream({ maxCommandLength: this._server.options.maxCommandLength });
    parser.oncommand = (command, callback) => this._onCommand(command, callback);
    parser.on('error', (err: Error) => {
      if (err instanceof BareLineFeedError) {
        this.closeReason ??= 'disconnect';
        this.sendReply(protocolReply(521, '5.5.2', `${this.ctx.hostname} Error: bare <LF> received`, true), true);
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
    if (this.ctx.isShuttingDown() && !this._upgrading) {
      const name = command.toString('latin1', 0, 8).split(' ')[0]!.trim().toUpperCase();
      const allowed = name === 'QUIT' || (this.inTransaction && SHUTDOWN_IN_TRANSACTION.has(name));
      if (!allowed) {
        this.closeQuietly('shutdown', protocolReply(421, '4.3.2', `${this.ctx.hostname} Service shutting down, try again later`));
        return;
      }
    }
    super._onCommand(command, () => {
      this.armDeadline();
      callback?.();
    });
  }

  // ---- phases ------------------------------------------------------------

  /** From the server's onConnect: accept + connect phases, then greeting or the verdict. */
  async onPolicyConnect(callback: (err?: Error | null) => void): Promise<void> {
    if (this.ctx.isShuttingDown()) {
      this.closeReason ??= 'shutdown';
      this.pending = { reply: protocolReply(421, '4.3.2', `${this.ctx.hostname} Service shutting down, try again later`), report: false };
      callback(new Error('shutting down'));
      return;
    }
    const reply = await this.decide('connect');
    if (reply === undefined) {
      callback();
      this.armDeadline();
      return;
    }
    this.closeReason ??= 'disconnect';
    this.pending = { reply, report: this.decidedReport };
    callback(new Error(reply.text));
  }

  override handler_EHLO(command: Buffer, callback: () => void): void {
    void this.helo(command, callback, (c, cb) => super.handler_EHLO(c, cb));
  }

  override handler_HELO(command: Buffer, callback: () => void): void {
    void this.helo(command, callback, (c, cb) => super.handler_HELO(c, cb));
  }

  private async helo(command: Buffer, callback: () => void, library: (c: Buffer, cb: () => void) => void): Promise<void> {
    const parts = command.toString().trim().split(/\s+/);
    const name = parts[1] ?? '';
    // Syntax errors are the library's to answer (501), before any policy runs.
    if (parts.length !== 2 || name.length > 300 || /[\x00-\x1f\x7f]/.test(name)) {
      library(command, callback);
      return;
    }
    // EHLO is an implicit RSET (RFC 5321 §4.1.4).
    if (this.inTransaction || this.transactionDone) this.policy.reset();
    this.transactionDone = false;
    const reply = await this.decide('ehlo', name);
    if (reply === undefined) {
      library(command, callback);
      return;
    }
    if (reply.code >= 400) this.hostNameAppearsAs = false;
    this.sendReply(reply, this.decidedReport);
    callback();
  }

  /** From the server's onMailFrom. */
  async onPolicyMail(address: string, callback: (err?: Error | null) => void): Promise<void> {
    if (this.transactionDone) {
      this.policy.reset();
      this.transactionDone = false;
    }
    const reply = await this.decide('mailfrom', address);
    this.answer(reply, this.decidedReport, callback);
  }

  /** From the server's onRcptTo. */
  async onPolicyRcpt(address: string, callback: (err?: Error | null) => void): Promise<void> {
    const reply = await this.decide('rcptto', address);
    this.answer(reply, this.decidedReport, callback);
  }

  /** Hands a decided reply to a library callback: the library's send() picks it up. */
  answer(reply: SmtpReply | undefined, report: boolean, callback: (err?: Error | null, message?: string) => void, success?: string): void {
    if (reply === undefined) {
      callback(null, success);
      return;
    }
    this.pending = { reply, report };
    if (reply.code < 400) callback(null, reply.text);
    else callback(new Error(reply.text));
  }

  markTransactionDone(accepted: boolean): void {
    this.transactionDone = true;
    if (accepted) this.messages += 1;
  }

  override handler_RSET(command: Buffer, callback: () => void): void {
    this.policy.reset();
    this.transactionDone = false;
    super.handler_RSET(command, callback);
  }

  override handler_QUIT(command: Buffer, callback: () => void): void {
    this.closeReason ??= 'quit';
    super.handler_QUIT(command, callback);
  }

  // ---- XCLIENT -----------------------------------------------------------

  override _proxyCommandAllowed(command: string, _option: 'useXClient' | 'useXForward'): boolean {
    // Trust is by CIDR from the config, checked against the real TCP peer, and
    // XCLIENT ADDR hands the session over for good (the library's own rule).
    return command === 'XCLIENT' && !this._xClient.has('ADDR') && this.ctx.trusted(this._originalRemoteAddress) && this._isSupported(command);
  }

  override handler_XCLIENT(command: Buffer, callback: () => void): void {
    this.xclientActive = true;
    this.xclientHadAddr = this._xClient.has('ADDR');
    super.handler_XCLIENT(command, () => {
      this.xclientActive = false;
      const restart = this.xclientRestart;
      this.xclientRestart = undefined;
      if (restart === undefined) callback();
      else void restart.then(callback);
    });
  }

  /** The library re-greets after XCLIENT; with a new ADDR the session starts over first, as in Postfix. */
  override _sendGreeting(): void {
    if (this.xclientActive && !this.xclientHadAddr && this._xClient.has('ADDR') && this.xclientRestart === undefined) {
      this.xclientRestart = this.restartAsXclient();
      return;
    }
    super._sendGreeting();
  }

  private async restartAsXclient(): Promise<void> {
    const proxy = this._originalRemoteAddress;
    this.policy.close('xclient');
    this.openPolicy();
    this.log.info({ proxy, helo: this._xClient.get('HELO') ?? undefined, name: this._xClient.get('NAME') ?? undefined }, 'xclient: session restarted');
    const reply = await this.decide('connect');
    if (reply === undefined) {
      super._sendGreeting();
      return;
    }
    this.closeReason ??= 'disconnect';
    this.sendReply({ ...reply, close: true }, this.decidedReport);
  }
}
