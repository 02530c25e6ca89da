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
import { DialogueState, HOST_FAULT_VERDICT, verbOfLine, type DialogueVerb } from './dialogue.ts';
import { replyForVerdict, type SmtpPhase, type SmtpReply } from './reply.ts';
import { BareLineFeedError, StrictSmtpStream } from './strict-stream.ts';

function fireDeadline(conn: PolicyConnection): void {
  conn.onDeadlineTimer();
}

function greetWhenReady(conn: PolicyConnection): void {
  conn.connectionReady();
}

const HOST_BUG: Verdict = HOST_FAULT_VERDICT;

interface PendingReply {
  readonly reply: SmtpReply;
  /** Protocol replies are reported to the session; policy replies were counted by it already. */
  readonly report: boolean;
}

export class PolicyConnection extends SMTPConnection {
  /** The session being judged; not opened yet while a trusted XCLIENT peer is deferred (see `judged`). */
  policy!: PolicySession;
  closeReason: CloseReason | undefined;
  readonly ctx: ConnectionContext;
  /** Where the session stands in the dialogue (dialogue.ts owns the rules). */
  readonly dialogue: DialogueState;
  /**
   * False while a trusted XCLIENT peer has sent nothing but EHLO/HELO/XCLIENT:
   * it is neither counted nor judged until it poses a client (XCLIENT) or
   * sends anything else (then it is judged as itself).
   */
  judged: boolean;
  private pending: PendingReply | undefined;
  /** The first line of the next EHLO/HELO reply (the library adds the keywords). */
  private heloLine: string | undefined;
  /** The EHLO/HELO name a deferred peer gave: its ehlo phase runs when it is judged as itself. */
  private deferredHelo: string | undefined;
  /** Built on first use: most sessions log nothing at the usual levels. */
  private sessionLog: Logger | undefined;
  /** The peer the current session was opened for (XCLIENT changes it before the restart). */
  private sessionPeer = '';
  /** Monotonic ms by which the client owes the current command (or the whole DATA). */
  private deadlineAt = 0;
  /** DATA only: the deadline the minimum data rate sets (Infinity when off or outside DATA). */
  private rateDeadlineAt = Infinity;
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
  /** The last accepted message's queue id, for the session's closing line. */
  private lastQueueId = '';
  private readonly openedAt: number;
  /** Set by the listener: gives back the connection's slot once its socket is closed. */
  onGone: (() => void) | undefined;

  constructor(server: SMTPServer, socket: Socket, options: SMTPConnectionOptions | undefined, ctx: ConnectionContext) {
    super(server, socket, options);
    this.ctx = ctx;
    this.dialogue = new DialogueState(ctx.replies, { maxErrors: ctx.limits.maxErrors, maxNonProgressing: ctx.limits.maxNonProgressingCommands });
    this.openedAt = ctx.monotonicMs();
    this.judged = !ctx.trusted(this._originalRemoteAddress);
    if (this.judged) this.openPolicy();
    else this.sessionPeer = this.remoteAddress;
  }

  // ---- lifecycle ---------------------------------------------------------

  /** Counts the connection and opens the gauge for the current remote address. */
  private openPolicy(): void {
    this.judged = true;
    this.policy = this.ctx.engine.openSession({
      remote: { address: this.remoteAddress, port: this.remotePort },
      local: { address: this.localAddress, port: this.localPort },
      listener: this.ctx.listenerId(),
      hostname: this.ctx.hostname,
    });
    this.sessionLog = undefined;
    this.sessionPeer = this.remoteAddress;
    // Per-session detail is debug: at info a session is one line, when it closes.
    if (this.ctx.logger.isLevelEnabled('debug')) {
      this.log.debug({ port: this.remotePort, listener: this.ctx.listenerId(), generation: this.policy.generation }, 'connection opened');
    }
  }

  /** The session's logger (session id and peer bound). */
  get log(): Logger {
    // A pino child serialises its bindings when made: only pay that when a line is written.
    return (this.sessionLog ??= this.ctx.logger.child(this.judged ? { session: this.policy.id, peer: this.sessionPeer } : { peer: this.sessionPeer, proxy: true }));
  }

  /** Socket closed, whatever the cause: the one place the session and its gauge are closed. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    this.cancelTarpit?.();
    const reason = this.closeReason ?? 'reset';
    if (this.judged) this.policy.close(reason);
    // The session's one line at info (Postfix's "disconnect from" line): how it ended and what it delivered.
    if (this.ctx.logger.isLevelEnabled('info')) {
      // The parent logger with the bindings inline: a child logger per session costs more than the line.
      this.ctx.logger.info(
        {
          ...(this.judged ? { session: this.policy.id } : { proxy: true }),
          peer: this.sessionPeer,
          reason,
          messages: this.messages,
          ...(this.lastQueueId === '' ? {} : { queueId: this.lastQueueId }),
          durationMs: Math.round(this.ctx.monotonicMs() - this.openedAt),
        },
        'connection closed',
      );
    }
  }

  /** The socket has closed and the session with it. */
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
    if ((pending === undefined || pending.report) && this.judged) {
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
    const enough = this.dialogue.replied(code);
    if (enough !== undefined) this.sendReply(enough, true);
  }

  private sendReply(reply: SmtpReply, report: boolean): void {
    this.pending = { reply, report };
    this.send(reply.code);
  }

  /** Answers a command with a front reply without running it; the parser goes on once it is out. */
  private refuseCommand(reply: SmtpReply, callback: (() => void) | undefined, report = true): void {
    this.sendReply(reply, report);
    this.armDeadline();
    // As the library does for its own refusals: never re-enter the parser synchronously.
    if (callback !== undefined) setImmediate(callback);
  }

  /** The library's greeting, with the dialogue's text. */
  private greet(): void {
    const g = this.ctx.replies.greeting;
    super.send(g.code, g.text, false);
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
    const limits = this.ctx.limits;
    const dataMode = this._parser !== false && this._parser._dataMode;
    const ms = dataMode ? limits.dataTimeoutMs : limits.commandTimeoutMs;
    const now = this.ctx.monotonicMs();
    this.deadlineAt = now + ms;
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
    const before = this.rateDeadlineAt;
    this.rateDeadlineAt = extended < cap ? extended : cap;
    // The whole-DATA deadline still bounds everything.
    if (this.deadlineAt === before || this.rateDeadlineAt < this.deadlineAt) {
      const absolute = this.deadlineAt === before ? Infinity : this.deadlineAt;
      this.deadlineAt = this.rateDeadlineAt < absolute ? this.rateDeadlineAt : absolute;
    }
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
    if (this.judged) this.policy.reset();
    this.dialogue.restart();
    if (this.ctx.logger.isLevelEnabled('debug')) this.log.debug({ cipher: this._socket instanceof TLSSocket ? this._socket.getCipher().name : undefined }, 'tls established');
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
    // QUIT ends a deferred session unjudged: there is nothing left to judge.
    if (!this.judged && verb !== 'EHLO' && verb !== 'HELO' && verb !== 'XCLIENT' && verb !== 'QUIT') {
      void this.judgeAsItself(command, callback);
      return;
    }
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

  /** A deferred XCLIENT peer sent something other than EHLO/HELO/XCLIENT: from now on it is judged as itself. */
  private async judgeAsItself(command: Buffer, callback: (() => void) | undefined): Promise<void> {
    this._handlerPending = true;
    this.openPolicy();
    let reply = await this.decide('connect');
    if (reply === undefined && this.deferredHelo !== undefined && this.dialogue.helo) {
      // Its EHLO was answered before it was judged; the policy sees it now.
      reply = await this.decide('ehlo', this.deferredHelo);
      if (reply !== undefined && reply.code < 400) reply = undefined;
      if (reply !== undefined) {
        this.hostNameAppearsAs = false;
        this.dialogue.heloRefused();
      }
    } else if (reply !== undefined) {
      this.closeReason ??= 'disconnect';
      reply = { ...reply, close: true };
    }
    this._handlerPending = false;
    if (reply !== undefined) {
      // A policy reply: the session counted it already (a host fault excepted).
      this.refuseCommand(reply, callback, this.decidedReport);
      return;
    }
    this._onCommand(command, callback);
  }

  // ---- phases ------------------------------------------------------------

  /** From the server's onConnect: accept + connect phases, then greeting or the verdict. */
  async onPolicyConnect(callback: (err?: Error | null) => void): Promise<void> {
    if (this.ctx.isShuttingDown()) {
      this.closeReason ??= 'shutdown';
      this.pending = { reply: this.ctx.replies.shutdown, report: false };
      callback(new Error('shutting down'));
      return;
    }
    // A deferred XCLIENT peer is greeted without being judged.
    const reply = this.judged ? await this.decide('connect') : undefined;
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
    const verb: DialogueVerb = parts[0]!.toUpperCase() === 'HELO' ? 'HELO' : 'EHLO';
    // Syntax errors are the library's to answer (501), before any policy runs.
    if (parts.length !== 2 || name.length > 300 || /[\x00-\x1f\x7f]/.test(name)) {
      library(command, callback);
      return;
    }
    if (this.dialogue.resetsTransaction(verb)) {
      if (this.judged) this.policy.reset();
      this.dialogue.reset();
    }
    const reply = this.judged ? await this.decide('ehlo', name) : undefined;
    if (reply === undefined) {
      this.heloLine = this.ctx.replies.helo(this.remoteAddress, this.heloClientName()).text;
      library(command, callback);
      this.heloLine = undefined;
      if (this.hostNameAppearsAs !== false) {
        this.dialogue.accepted(verb);
        if (!this.judged) this.deferredHelo = name;
      }
      return;
    }
    if (reply.code >= 400) {
      this.hostNameAppearsAs = false;
      this.dialogue.heloRefused();
    }
    this.sendReply(reply, this.decidedReport);
    callback();
  }

  /** The name XCLIENT gave the client, if any (the EHLO reply greets it by that name). */
  private heloClientName(): string | undefined {
    const name = this._xClient.get('NAME');
    return typeof name === 'string' && name !== '' && !name.startsWith('[') ? name : undefined;
  }

  /** From the server's onMailFrom. */
  async onPolicyMail(address: string, callback: (err?: Error | null) => void): Promise<void> {
    if (this.dialogue.resetsTransaction('MAIL')) {
      this.policy.reset();
      this.dialogue.reset();
    }
    const reply = await this.decide('mailfrom', address);
    if (reply === undefined || reply.code < 400) this.dialogue.accepted('MAIL');
    this.answer(reply, this.decidedReport, callback, undefined, this.ctx.replies.mailOk);
  }

  /** From the server's onRcptTo. */
  async onPolicyRcpt(address: string, callback: (err?: Error | null) => void): Promise<void> {
    const reply = await this.decide('rcptto', address);
    if (reply === undefined || reply.code < 400) this.dialogue.accepted('RCPT');
    this.answer(reply, this.decidedReport, callback, undefined, this.ctx.replies.rcptOk);
  }

  /** Hands a decided reply to a library callback: the library's send() picks it up. */
  answer(reply: SmtpReply | undefined, report: boolean, callback: (err?: Error | null, message?: string) => void, success?: string, successReply?: SmtpReply): void {
    if (reply === undefined) {
      if (successReply !== undefined) this.pending = { reply: successReply, report: false };
      callback(null, success);
      return;
    }
    this.pending = { reply, report };
    if (reply.code < 400) callback(null, reply.text);
    else callback(new Error(reply.text));
  }

  /** DATA is over (replied to): the transaction ends whatever the outcome. */
  markTransactionDone(accepted: boolean, queueId = ''): void {
    this.dialogue.dataFinished(accepted);
    if (accepted) {
      this.messages += 1;
      this.lastQueueId = queueId;
    }
  }

  override handler_RSET(_command: Buffer, callback: () => void): void {
    if (this.judged) this.policy.reset();
    this.dialogue.reset();
    this._resetSession();
    this.sendReply(this.ctx.replies.rsetOk, false);
    callback();
  }

  override handler_QUIT(_command: Buffer, callback: () => void): void {
    this.closeReason ??= 'quit';
    this.sendReply(this.ctx.replies.bye, false);
    this.close();
    callback();
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

  /**
   * The library re-greets after XCLIENT; the session starts over first, as in
   * Postfix, when XCLIENT gave a new ADDR or the peer had not been judged yet
   * (then the posed client is judged).
   */
  override _sendGreeting(): void {
    if (this.xclientActive && this.xclientRestart === undefined && (!this.judged || (!this.xclientHadAddr && this._xClient.has('ADDR')))) {
      this.xclientRestart = this.restartAsXclient();
      return;
    }
    this.greet();
  }

  private async restartAsXclient(): Promise<void> {
    const proxy = this._originalRemoteAddress;
    if (this.judged) this.policy.close('xclient');
    this.dialogue.restart();
    this.deferredHelo = undefined;
    this.openPolicy();
    if (this.ctx.logger.isLevelEnabled('debug')) this.log.debug({ proxy, helo: this._xClient.get('HELO') ?? undefined, name: this._xClient.get('NAME') ?? undefined }, 'xclient: session restarted');
    const reply = await this.decide('connect');
    if (reply === undefined) {
      this.greet();
      return;
    }
    this.closeReason ??= 'disconnect';
    this.sendReply({ ...reply, close: true }, this.decidedReport);
  }
}
