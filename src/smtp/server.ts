/**
 * The SMTP listener: one smtp-server instance per listen address, all sharing
 * the engine, the sink and the connection caps. It receives every concrete
 * object from its caller (src/cli/serve.ts, or a test) and builds nothing but
 * sockets.
 */
import type { Socket } from 'node:net';
import { SMTPServer, type SMTPServerAddress, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { SMTPConnectionOptions } from 'smtp-server/lib/smtp-connection.js';
import { monotonicMs as systemMonotonicMs, type Clock } from '../clock.ts';
import type { ListenAddress, MoonwatchConfig } from '../config/schema.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { PolicyEngine } from '../policy/session-api.ts';
import { ConnectionCaps } from './caps.ts';
import { PolicyConnection } from './connection.ts';
import type { ConnectionContext } from './context.ts';
import { runDataPhase } from './data-phase.ts';
import { ListenError } from './errors.ts';
import { DialogueReplies } from './dialogue.ts';
import { ReplyBatch } from './reply-batch.ts';
import { formatReply, type SmtpReply } from './reply.ts';
import type { Sink } from './sink.ts';
import { createTrustMatcher } from './trust.ts';

export interface SmtpServerOptions {
  readonly config: Pick<MoonwatchConfig, 'listen' | 'hostname' | 'banner' | 'limits' | 'xclient' | 'tls'>;
  readonly engine: PolicyEngine;
  readonly sink: Sink;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Overrides config.listen (tests bind 127.0.0.1:0 and [::1]:0). */
  readonly listen?: readonly ListenAddress[];
  readonly monotonicMs?: () => number;
  /** Called with every accepted connection (instrumentation; the dialogue parity test drives deadlines through it). */
  readonly onConnection?: (connection: PolicyConnection) => void;
}

export interface BoundAddress {
  readonly host: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
  /** "127.0.0.1:2525" / "[::1]:2525" */
  readonly id: string;
}

export interface SmtpListenerStats {
  /** Sockets open now (greeted or not). */
  readonly open: number;
  readonly accepted: number;
  /** Refused by the connection caps before any session was opened. */
  readonly refusedByCaps: number;
}

export interface SmtpListener {
  addresses(): BoundAddress[];
  stats(): SmtpListenerStats;
  /**
   * Stops accepting, lets sessions finish their transaction for up to graceMs,
   * then ends the rest with 421. Resolves once every socket is closed.
   */
  close(graceMs: number): Promise<void>;
  /** New STARTTLS key and certificate for the connections that start from now on (SIGHUP). */
  updateTls(tls: { key: Buffer; cert: Buffer }): void;
  /**
   * A re-read config for the connections that start from now on: hostname,
   * banner, limits, caps, XCLIENT trust, STARTTLS key and certificate, the
   * sink. Listen addresses and turning STARTTLS on or off need a restart.
   */
  updateConfig(config: Pick<MoonwatchConfig, 'hostname' | 'banner' | 'limits' | 'xclient' | 'tls'>, sink: Sink): void;
}

/** Shared by every listen address of one listener. */
class ListenerState {
  readonly connections = new Set<PolicyConnection>();
  shuttingDown = false;
  accepted = 0;
  refusedByCaps = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(readonly caps: ConnectionCaps) {}

  whenIdle(): Promise<void> {
    if (this.connections.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  removed(): void {
    if (this.connections.size > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

/**
 * The library hands its callbacks the session, not the connection; the
 * connection rides on the session object (which lives as long as the
 * connection), a cheaper lookup than a WeakMap on every command.
 */
const CONNECTION = Symbol('moonwatch.connection');
type SessionWithConnection = SMTPServerSession & { [CONNECTION]?: PolicyConnection };

class PolicySmtpServer extends SMTPServer {
  boundId = '';
  private connectionCount = 0;
  /**
   * The bound address, when it is one address rather than a wildcard: then it
   * is every connection's local end, and the library need not ask the kernel
   * (a getsockname per connection, for an address nothing here reads).
   */
  private localEnd: { readonly localAddress: string; readonly localPort: number } | undefined;

  constructor(
    options: ConstructorParameters<typeof SMTPServer>[0],
    // Replaced (not mutated) by updateConfig: open connections keep the context they started with.
    public ctx: ConnectionContext,
    private readonly state: ListenerState,
    private readonly onConnection: ((connection: PolicyConnection) => void) | undefined,
  ) {
    super(options);
    // Connection errors inside a transaction are re-emitted here; they are
    // logged per connection already and must not crash the process.
    this.on('error', (err: Error) => ctx.logger.debug({ err: err.message }, 'smtp server error'));
  }

  /**
   * Without a PROXY header to read, the library draws 10 random bytes for a
   * connection id that nothing here reads (sessions have ids of their own)
   * and defers connect() by a turn: about 10 µs per connection, a few percent
   * of a whole session. A counter names the connection instead.
   */
  override _handleProxy(socket: Socket, callback: (err: Error | null, socketOptions?: SMTPConnectionOptions & { id: string }) => void): void {
    if (this.options.useProxy) {
      super._handleProxy(socket, callback);
      return;
    }
    const id = (++this.connectionCount).toString(36);
    const local = this.localEnd;
    callback(null, local === undefined ? { id } : { id, localAddress: local.localAddress, localPort: local.localPort });
  }

  /** Called once listening: the id logs and gauges name the listener by, and its local end if fixed. */
  bound(): void {
    const b = boundAddress(this);
    this.boundId = b.id;
    this.localEnd = b.host === '0.0.0.0' || b.host === '::' ? undefined : { localAddress: b.host, localPort: b.port };
  }

  override connect(socket: Socket, socketOptions?: SMTPConnectionOptions | null): void {
    const peer = normalizePeer(socket.remoteAddress);
    const decision = this.state.shuttingDown ? 'shutdown' : this.state.caps.tryAcquire(peer);
    if (decision !== 'ok') {
      this.refuse(socket, peer, decision);
      return;
    }
    let connection: PolicyConnection;
    try {
      connection = new PolicyConnection(this, socket, socketOptions ?? undefined, this.ctx);
    } catch (err) {
      this.ctx.logger.error({ peer, err: errorMessage(err) }, 'cannot open a policy session');
      // The slot taken above is given back when the socket goes, as for any connection.
      socket.once('close', () => this.state.caps.release(peer));
      this.refuse(socket, peer, 'error');
      return;
    }
    this.state.accepted += 1;
    this.state.connections.add(connection);
    (connection.session as SessionWithConnection)[CONNECTION] = connection;
    // Called from the library's close handling, not from a 'close' listener on
    // this socket: STARTTLS removes every listener from the plain socket.
    connection.onGone = () => {
      this.state.caps.release(peer);
      this.state.connections.delete(connection);
      this.state.removed();
    };
    this.connections.add(connection);
    connection.on('error', (err: Error) => this._onError(err));
    connection.init();
    this.onConnection?.(connection);
  }

  private refuse(socket: Socket, peer: string, why: 'total' | 'per-ip' | 'shutdown' | 'error'): void {
    if (why === 'total' || why === 'per-ip') this.state.refusedByCaps += 1;
    this.ctx.logger.info({ peer, cap: why }, 'connection refused');
    const replies = this.ctx.replies;
    const reply = why === 'shutdown' ? replies.shutdown : why === 'error' ? replies.localError() : replies.tooManyConnections(why === 'per-ip');
    socket.on('error', () => undefined);
    socket.end(`${formatReply(reply)}\r\n`);
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  private conn(session: SMTPServerSession): PolicyConnection {
    const c = (session as SessionWithConnection)[CONNECTION];
    if (c === undefined) throw new Error(`no connection for session ${session.id}`);
    return c;
  }

  override onSecure(_socket: Socket, session: SMTPServerSession, callback: (err?: Error | null) => void): void {
    this.conn(session).onPolicySecure();
    callback();
  }

  override onConnect(session: SMTPServerSession, callback: (err?: Error | null) => void): void {
    this.conn(session).onPolicyConnect(callback);
  }

  override onMailFrom(address: SMTPServerAddress, session: SMTPServerSession, callback: (err?: Error | null) => void): void {
    this.conn(session).onPolicyMail(address.address, callback);
  }

  override onRcptTo(address: SMTPServerAddress, session: SMTPServerSession, callback: (err?: Error | null) => void): void {
    this.conn(session).onPolicyRcpt(address.address, callback);
  }

  override onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback: (err?: Error | null, message?: string) => void): void {
    void runDataPhase(this.conn(session), stream, callback);
  }

  override onClose(): void {
    // finish() runs from the socket's own close event, which also covers
    // sockets that never reached the library's session.
  }
}

export async function startSmtpServer(opts: SmtpServerOptions): Promise<SmtpListener> {
  const { config, logger } = opts;
  const limits = config.limits;
  const state = new ListenerState(new ConnectionCaps(limits.maxConnections, limits.maxConnectionsPerIp));
  const trusted = createTrustMatcher(config.xclient.trusted);
  const replies = new DialogueReplies(config.hostname, config.banner);
  const replyBatch = new ReplyBatch();
  const servers: PolicySmtpServer[] = [];
  for (const addr of opts.listen ?? config.listen) {
    const server: PolicySmtpServer = new PolicySmtpServer(
      {
        name: config.hostname,
        banner: config.banner,
        heloResponse: '%s Hello %s',
        // STARTTLS only with a key and certificate; the library discards
        // whatever the client pipelined after the STARTTLS command.
        disabledCommands: ['AUTH', ...(config.tls === undefined ? ['STARTTLS'] : []), 'XFORWARD', 'WIZ', 'SHELL', 'KILL'],
        hideSTARTTLS: config.tls === undefined,
        ...(config.tls === undefined ? {} : { key: config.tls.key, cert: config.tls.cert }),
        hideENHANCEDSTATUSCODES: false,
        authOptional: true,
        disableReverseLookup: true,
        size: limits.maxMessageBytes,
        maxRecipients: limits.maxRecipients,
        // The parser measures a line without its CRLF.
        maxCommandLength: limits.maxLineLength - 2,
        socketTimeout: limits.idleTimeoutMs,
        logger: false,
      },
      {
        engine: opts.engine,
        sink: opts.sink,
        logger,
        clock: opts.clock,
        monotonicMs: opts.monotonicMs ?? systemMonotonicMs,
        hostname: config.hostname,
        replies,
        limits,
        trusted,
        listenerId: () => server.boundId,
        isShuttingDown: () => state.shuttingDown,
        replyBatch,
      },
      state,
      opts.onConnection,
    );
    try {
      await listen(server, addr);
    } catch (err) {
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.server.close(() => r()))));
      throw err;
    }
    servers.push(server);
    logger.info({ address: server.boundId }, 'listening');
  }

  let closing: Promise<void> | undefined;
  return {
    addresses: () => servers.map((s) => boundAddress(s)),
    stats: () => ({ open: state.caps.total, accepted: state.accepted, refusedByCaps: state.refusedByCaps }),
    close: (graceMs: number) => (closing ??= shutdown(servers, state, logger, replies.shutdown, graceMs)),
    updateTls(tls) {
      if (config.tls === undefined) throw new Error('STARTTLS is not configured on this listener');
      for (const s of servers) s.updateSecureContext({ key: tls.key, cert: tls.cert });
    },
    updateConfig(next, sink) {
      const l = next.limits;
      state.caps.setLimits(l.maxConnections, l.maxConnectionsPerIp);
      const trust = createTrustMatcher(next.xclient.trusted);
      for (const s of servers) {
        // The library reads these per connection and per command.
        Object.assign(s.options, {
          name: next.hostname,
          banner: next.banner,
          size: l.maxMessageBytes,
          maxRecipients: l.maxRecipients,
          maxCommandLength: l.maxLineLength - 2,
          socketTimeout: l.idleTimeoutMs,
        });
        s.ctx = { ...s.ctx, sink, hostname: next.hostname, limits: l, trusted: trust };
        if (next.tls !== undefined && config.tls !== undefined) s.updateSecureContext({ key: next.tls.key, cert: next.tls.cert });
      }
    },
  };
}

function listen(server: PolicySmtpServer, addr: ListenAddress): Promise<void> {
  const id = addr.host.includes(':') ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`;
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(new ListenError(id, err.message, { cause: err }));
    server.server.once('error', onError);
    server.server.listen({ host: addr.host, port: addr.port, ipv6Only: addr.host.includes(':') }, () => {
      server.server.off('error', onError);
      server.bound();
      resolve();
    });
  });
}

function boundAddress(server: PolicySmtpServer): BoundAddress {
  const a = server.server.address();
  if (a === null || typeof a === 'string') throw new Error('listener is not bound');
  const family = a.family === 'IPv6' ? 'IPv6' : 'IPv4';
  return { host: a.address, port: a.port, family, id: family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}` };
}

async function shutdown(servers: PolicySmtpServer[], state: ListenerState, logger: Logger, bye: SmtpReply, graceMs: number): Promise<void> {
  state.shuttingDown = true;
  const stopped = Promise.all(servers.map((s) => new Promise<void>((r) => s.server.close(() => r()))));
  logger.info({ open: state.connections.size, grace_ms: graceMs }, 'shutting down: no new connections');
  // Sessions between transactions have nothing to finish.
  for (const c of state.connections) {
    if (!c.busy && !c.inTransaction) c.closeQuietly('shutdown', bye);
  }
  const graceOver = await Promise.race([state.whenIdle().then(() => false), sleep(graceMs).then(() => true)]);
  if (graceOver && state.connections.size > 0) {
    logger.warn({ open: state.connections.size }, 'grace period over: closing remaining sessions');
    for (const c of state.connections) c.closeQuietly('shutdown', bye);
    // A client that never closes its side must not hold the exit.
    const forced = await Promise.race([state.whenIdle().then(() => false), sleep(1000).then(() => true)]);
    if (forced) for (const c of state.connections) c._socket.destroy();
    await state.whenIdle();
  }
  await stopped;
  logger.info('smtp listener closed');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** The address caps are counted for: IPv4-mapped IPv6 is the IPv4 address. */
function normalizePeer(address: string | undefined): string {
  const a = (address ?? '').toLowerCase();
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}
