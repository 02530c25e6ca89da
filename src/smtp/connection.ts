/**
 * One SMTP connection driving one PolicySession: the dialogue of
 * DialogueConnection (dialogue-connection.ts) with the policy phases, the
 * session's lifecycle and XCLIENT on top. This subclasses the library's
 * SMTPConnection because the library has no hook for EHLO/HELO, XCLIENT
 * restarts or its own protocol replies; everything else (parsing, pipelining,
 * dot-unstuffing, address syntax) stays the library's.
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { SMTPConnectionOptions } from 'smtp-server/lib/smtp-connection.js';
import type { SMTPServer } from 'smtp-server';
import { errorMessage } from '../errors.ts';
import { andThen, type Eventually } from '../eventually.ts';
import type { Logger } from '../log.ts';
import type { PolicySession } from '../policy/session-api.ts';
import type { Verdict } from '../policy/verdict.ts';
import type { ConnectionContext } from './context.ts';
import { HOST_FAULT_VERDICT, type DialogueVerb } from './dialogue.ts';
import { DialogueConnection } from './dialogue-connection.ts';
import { replyForVerdict, type SmtpPhase, type SmtpReply } from './reply.ts';

const HOST_BUG: Verdict = HOST_FAULT_VERDICT;

export class PolicyConnection extends DialogueConnection {
  /** The session being judged; not opened yet while a trusted XCLIENT peer is deferred (see `judged`). */
  policy!: PolicySession;
  /**
   * False while a trusted XCLIENT peer has sent nothing but EHLO/HELO/XCLIENT:
   * it is neither counted nor judged until it poses a client (XCLIENT) or
   * sends anything else (then it is judged as itself).
   */
  judged: boolean;
  /** The EHLO/HELO name a deferred peer gave: its ehlo phase runs when it is judged as itself. */
  private deferredHelo: string | undefined;
  /** Built on first use: most sessions log nothing at the usual levels. */
  private sessionLog: Logger | undefined;
  /** The peer the current session was opened for (XCLIENT changes it before the restart). */
  private sessionPeer = '';
  /** Ends a running tarpit early; set while one runs. */
  private cancelTarpit: (() => void) | undefined;
  /** What decide() found besides the reply: whether it is a protocol reply to report. */
  private decidedReport = false;
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
    super(server, socket, options, ctx);
    this.openedAt = ctx.monotonicMs();
    this.judged = !ctx.trusted(this._originalRemoteAddress);
    if (this.judged) this.openPolicy();
    else this.sessionPeer = this.remoteAddress;
  }

  protected countRejection(code: number, text: string | undefined): void {
    if (!this.judged) return;
    this.policy.protocolRejection(code);
    this.log.info({ code, text }, 'protocol rejection');
  }

  protected onTransactionReset(): void {
    if (this.judged) this.policy.reset();
  }

  /** A trusted XCLIENT peer that sends anything but EHLO/HELO/XCLIENT is judged as itself first. */
  protected override takeCommand(verb: DialogueVerb, command: Buffer, callback: (() => void) | undefined): boolean {
    // QUIT ends a deferred session unjudged: there is nothing left to judge.
    if (this.judged || verb === 'EHLO' || verb === 'HELO' || verb === 'XCLIENT' || verb === 'QUIT') return false;
    void this.judgeAsItself(command, callback);
    return true;
  }

  // ---- lifecycle ---------------------------------------------------------

  /** Counts the connection and opens the gauge for the current remote address. */
  private openPolicy(): void {
    this.judged = true;
    const clientName = this.heloClientName();
    this.policy = this.ctx.engine.openSession({
      remote: { address: this.remoteAddress, port: this.remotePort },
      local: { address: this.localAddress, port: this.localPort },
      listener: this.ctx.listenerId(),
      hostname: this.ctx.hostname,
      ...(clientName === undefined ? {} : { clientName }),
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
      // Absent fields are undefined, which the log leaves out, not spread in: an object literal
      // that starts with a spread gets a new hidden class every time once V8 has optimised it.
      this.ctx.logger.info(
        {
          session: this.judged ? this.policy.id : undefined,
          proxy: this.judged ? undefined : true,
          peer: this.sessionPeer,
          reason,
          messages: this.messages,
          queue_id: this.lastQueueId === '' ? undefined : this.lastQueueId,
          duration_ms: Math.round(this.ctx.monotonicMs() - this.openedAt),
        },
        'connection closed',
      );
    }
  }

  /**
   * Runs one phase and gives its reply (undefined: the library's own success
   * reply); decidedReport then says whether the reply is a protocol rejection.
   * At once unless a script waited or the verdict asks for a tarpit.
   */
  private decide(phase: SmtpPhase, arg?: string): Eventually<SmtpReply | undefined> {
    this.decidedReport = false;
    // The socket is gone: no reply will be read, and the session is closed.
    if (this.finished) return undefined;
    let verdict: Eventually<Verdict>;
    try {
      verdict = this.runPhase(phase, arg);
    } catch (err) {
      verdict = this.hostBug(phase, err);
    }
    if (verdict instanceof Promise) return verdict.then((v) => this.replyAfterTarpit(phase, v), (err: unknown) => this.replyFor(phase, this.hostBug(phase, err)));
    return this.replyAfterTarpit(phase, verdict);
  }

  /** The engine turns script faults into verdicts; an exception out of it is a host bug. */
  private hostBug(phase: SmtpPhase, err: unknown): Verdict {
    this.log.error({ phase, err: errorMessage(err) }, 'policy phase failed');
    return HOST_BUG;
  }

  private replyAfterTarpit(phase: SmtpPhase, verdict: Verdict): Eventually<SmtpReply | undefined> {
    if (verdict.tarpitMs > 0) return this.tarpit(verdict.tarpitMs).then(() => this.replyFor(phase, verdict));
    return this.replyFor(phase, verdict);
  }

  private replyFor(phase: SmtpPhase, verdict: Verdict): SmtpReply | undefined {
    this.decidedReport = verdict === HOST_BUG;
    return replyForVerdict(verdict, phase, this.ctx.hostname);
  }

  /** A switch rather than a closure per call: this runs for every command. */
  private runPhase(phase: SmtpPhase, arg: string | undefined): Eventually<Verdict> {
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
  onPolicyConnect(callback: (err?: Error | null) => void): void {
    if (this.ctx.isShuttingDown()) {
      this.closeReason ??= 'shutdown';
      this.pending = { reply: this.ctx.replies.shutdown, report: false };
      callback(new Error('shutting down'));
      return;
    }
    // A deferred XCLIENT peer is greeted without being judged.
    void andThen(this.judged ? this.decide('connect') : undefined, (reply) => this.greetOrRefuse(reply, callback));
  }

  private greetOrRefuse(reply: SmtpReply | undefined, callback: (err?: Error | null) => void): void {
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
    this.helo(command, callback, false);
  }

  override handler_HELO(command: Buffer, callback: () => void): void {
    this.helo(command, callback, true);
  }

  /** The library's own EHLO or HELO handler (the keywords, the 501s). */
  private libraryHelo(helo: boolean, command: Buffer, callback: () => void): void {
    if (helo) super.handler_HELO(command, callback);
    else super.handler_EHLO(command, callback);
  }

  private helo(command: Buffer, callback: () => void, helo: boolean): void {
    const parts = command.toString().trim().split(/\s+/);
    const name = parts[1] ?? '';
    const verb: DialogueVerb = parts[0]!.toUpperCase() === 'HELO' ? 'HELO' : 'EHLO';
    // Syntax errors are the library's to answer (501), before any policy runs.
    if (parts.length !== 2 || name.length > 300 || /[\x00-\x1f\x7f]/.test(name)) {
      this.libraryHelo(helo, command, callback);
      return;
    }
    if (this.dialogue.resetsTransaction(verb)) {
      if (this.judged) this.policy.reset();
      this.dialogue.reset();
    }
    void andThen(this.judged ? this.decide('ehlo', name) : undefined, (reply) => this.answerHelo(reply, command, callback, helo, verb, name));
  }

  private answerHelo(reply: SmtpReply | undefined, command: Buffer, callback: () => void, helo: boolean, verb: DialogueVerb, name: string): void {
    if (reply === undefined) {
      this.heloLine = this.ctx.replies.helo(this.remoteAddress, this.heloClientName()).text;
      this.libraryHelo(helo, command, callback);
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
  onPolicyMail(address: string, callback: (err?: Error | null) => void): void {
    if (this.dialogue.resetsTransaction('MAIL')) {
      this.policy.reset();
      this.dialogue.reset();
    }
    void andThen(this.decide('mailfrom', address), (reply) => this.answerEnvelope('MAIL', reply, callback));
  }

  /** From the server's onRcptTo. */
  onPolicyRcpt(address: string, callback: (err?: Error | null) => void): void {
    void andThen(this.decide('rcptto', address), (reply) => this.answerEnvelope('RCPT', reply, callback));
  }

  private answerEnvelope(verb: 'MAIL' | 'RCPT', reply: SmtpReply | undefined, callback: (err?: Error | null) => void): void {
    if (reply === undefined || reply.code < 400) this.dialogue.accepted(verb);
    this.answer(reply, this.decidedReport, callback, undefined, verb === 'MAIL' ? this.ctx.replies.mailOk : this.ctx.replies.rcptOk);
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
