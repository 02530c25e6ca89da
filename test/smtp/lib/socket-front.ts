/**
 * A fixture front that runs every session through the real SMTP listener:
 * a real socket on 127.0.0.1, the fixture's engine and manual clock, and
 * XCLIENT ADDR=<the fixture's from-address> (127.0.0.1 is the trusted proxy,
 * and as such is neither counted nor judged: issue 14's deferral).
 *
 * Three things are simulated, each because real time must not pass in a
 * fixture: a tarpit is recorded and not waited out (the engine is wrapped to
 * zero it after noting it), a `timeout` fires the connection's deadline
 * through PolicyConnection.expireDeadline() instead of waiting minutes, and
 * `deliver: fail` makes the sink throw. Everything the client sees comes off
 * the wire.
 */
import { isIPv6 } from 'node:net';
import { DEFAULT_LIMITS } from '../../../src/config/schema.ts';
import type { Command } from '../../../src/harness/fixture.ts';
import { buildMessage } from '../../../src/harness/message.ts';
import type { TranscriptLine } from '../../../src/harness/result.ts';
import { commandLine, type FixtureSession, type FrontDeps, type FrontFactory, type Reply, type SessionFront } from '../../../src/harness/session-driver.ts';
import type { PolicyEngine, PolicySession } from '../../../src/policy/session-api.ts';
import type { Verdict } from '../../../src/policy/verdict.ts';
import type { PolicyConnection } from '../../../src/smtp/connection.ts';
import { startSmtpServer, type SmtpListener } from '../../../src/smtp/server.ts';
import type { Sink } from '../../../src/smtp/sink.ts';
import { andThen, type Eventually } from '../../../src/eventually.ts';
import { RawSmtpClient, type Reply as WireReply } from './raw-client.ts';

/** What the last policy verdict said that the wire cannot show. */
interface Probe {
  tarpitMs: number;
  fault: boolean;
}

const PHASES = new Set(['connect', 'ehlo', 'mailFrom', 'rcptTo', 'data']);

/** Notes each verdict's tarpit and fault, and hands the listener the verdict without the tarpit. */
function probedEngine(engine: PolicyEngine, probe: Probe): PolicyEngine {
  const note = (v: Verdict): Verdict => {
    probe.tarpitMs = v.tarpitMs;
    probe.fault = v.fault === true;
    return v.tarpitMs > 0 ? { ...v, tarpitMs: 0 } : v;
  };
  return {
    openSession(opts) {
      const s = engine.openSession(opts);
      return new Proxy(s, {
        get(target, prop) {
          const value = (target as unknown as Record<string | symbol, unknown>)[prop];
          if (typeof value !== 'function') return value;
          if (typeof prop === 'string' && PHASES.has(prop)) {
            return (...args: unknown[]) => andThen((value as (...a: unknown[]) => Eventually<Verdict>).apply(target, args), note);
          }
          return (value as (...a: unknown[]) => unknown).bind(target);
        },
      }) as PolicySession;
    },
  };
}

async function until(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!ok()) {
    if (Date.now() - start > timeoutMs) throw new Error(`socket front: timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

export const socketFront: FrontFactory = async (deps: FrontDeps): Promise<SessionFront> => {
  const probe: Probe = { tarpitMs: 0, fault: false };
  const byPort = new Map<number, PolicyConnection>();
  const sink: Sink & { failNext: boolean } = {
    type: 'fixture',
    failNext: false,
    async deliver(message) {
      if (sink.failNext) throw new Error("the fixture's sink refuses this message");
      deps.onDelivered(message);
      return 'delivered';
    },
    async close() {},
  };
  const listener = await startSmtpServer({
    config: {
      listen: [],
      hostname: deps.hostname,
      banner: deps.banner,
      limits: {
        ...DEFAULT_LIMITS,
        maxErrors: deps.limits.maxErrors,
        maxNonProgressingCommands: deps.limits.maxNonProgressing,
        // Real time must not end a session: a fixture's idle named session waits for as long as the steps take.
        idleTimeoutMs: 3_600_000,
        commandTimeoutMs: 3_600_000,
        dataTimeoutMs: 3_600_000,
        maxConnections: 1_000_000,
        maxConnectionsPerIp: 1_000_000,
      },
      xclient: { trusted: ['127.0.0.1'] },
    },
    engine: probedEngine(deps.engine, probe),
    sink,
    logger: deps.logger,
    clock: deps.clock,
    listen: [{ host: '127.0.0.1', port: 0 }],
    onConnection: (c) => byPort.set(c.remotePort, c),
  });
  const port = listener.addresses()[0]!.port;
  return {
    open: (label, from, _listener, transcript) => new SocketSession({ port, byPort, probe, sink, deps, transcript }, label, from),
    close: () => listener.close(1000),
  };
};

interface SocketDeps {
  readonly port: number;
  readonly byPort: Map<number, PolicyConnection>;
  readonly probe: Probe;
  readonly sink: { failNext: boolean };
  readonly deps: FrontDeps;
  readonly transcript: TranscriptLine[] | undefined;
}

class SocketSession implements FixtureSession {
  private client: RawSmtpClient | undefined;
  private conn: PolicyConnection | undefined;
  private state: 'new' | 'open' | 'closed' = 'new';
  private mailFrom = '';
  private recipients: string[] = [];
  closedBy: string | undefined;

  constructor(
    private readonly d: SocketDeps,
    readonly label: string,
    readonly from: string,
  ) {}

  get isOpen(): boolean {
    return this.state === 'open';
  }

  async run(command: Command): Promise<Reply | undefined> {
    const { probe } = this.d;
    probe.tarpitMs = 0;
    probe.fault = false;
    if (command.verb === 'connect') return this.connect();
    const client = this.client!;
    switch (command.verb) {
      case 'ehlo':
      case 'helo':
      case 'mail':
      case 'rcpt':
      case 'rset': {
        const reply = await this.exchange(commandLine(command));
        if (reply.code < 400 && command.verb === 'mail') this.mailFrom = command.arg;
        if (reply.code < 400 && command.verb === 'rcpt') this.recipients.push(command.arg);
        if (command.verb === 'rset' || command.verb === 'ehlo' || command.verb === 'helo') this.clearEnvelope();
        return reply;
      }
      case 'data': {
        const start = await this.exchange('DATA');
        if (start.code !== 354) return start;
        const conn = this.conn!;
        const raw = buildMessage(command.message, {
          mailFrom: this.mailFrom,
          recipients: this.recipients,
          nowMs: this.d.deps.clock.now(),
          messageId: `${conn.policy.id}.${conn.dialogue.transaction}@${this.d.deps.hostname}`,
        });
        this.d.sink.failNext = command.deliver === 'fail';
        const body = raw.toString('latin1').replace(/^\./gm, '..');
        client.write(Buffer.from(`${body}.\r\n`, 'latin1'));
        const reply = await this.read();
        this.d.sink.failNext = false;
        this.clearEnvelope();
        return reply;
      }
      case 'protocol_error':
        if (command.code !== 500) throw new Error(`socket front: protocol_error ${command.code} has no command that produces it (only 500)`);
        return this.exchange('XYZZY');
      case 'quit':
        return this.exchange('QUIT');
      case 'drop':
        client.reset();
        await this.ended('the client dropped the connection');
        return undefined;
      case 'timeout': {
        this.conn!.expireDeadline();
        return this.read();
      }
    }
  }

  async abandon(): Promise<void> {
    if (this.state !== 'open') return;
    this.client!.reset();
    await this.ended('the fixture ended');
  }

  private async connect(): Promise<Reply> {
    const client = await RawSmtpClient.open({ host: '127.0.0.1', port: this.d.port, localAddress: '127.0.0.1', timeoutMs: 30_000 });
    this.client = client;
    this.state = 'open';
    const localPort = client.socket.localPort!;
    await until('the listener to take the connection', () => this.d.byPort.has(localPort));
    this.conn = this.d.byPort.get(localPort)!;
    this.d.byPort.delete(localPort);
    // The trusted proxy's own greeting: it is not judged (issue 14).
    const proxyGreeting = await client.reply();
    if (proxyGreeting.code !== 220) throw new Error(`socket front: the proxy was not greeted: ${proxyGreeting.lines.join(' | ')}`);
    const addr = isIPv6(this.from) ? `IPV6:${this.from}` : this.from;
    return this.exchange(`XCLIENT ADDR=${addr}`);
  }

  private async exchange(line: string): Promise<Reply> {
    this.client!.write(`${line}\r\n`);
    return this.read();
  }

  private async read(): Promise<Reply> {
    const wire = await this.client!.reply();
    const conn = this.conn!;
    // The listener closes in the same turn as it sends a closing reply, so this is already settled.
    const disconnect = conn._closing || conn._closed || conn.isFinished;
    const reply = fromWire(wire, disconnect, this.d.probe);
    this.line(`S: ${wire.lines[0]}${disconnect ? '   [server closes]' : ''}`);
    if (disconnect) await this.ended(`the server closed it after "${wire.lines[0]}"`);
    return reply;
  }

  /** Waits until the listener has closed the session (its counters and gauge are final then). */
  private async ended(why: string): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closedBy = why;
    this.client!.end();
    await until('the listener to finish the session', () => this.conn!.isFinished);
  }

  private clearEnvelope(): void {
    this.mailFrom = '';
    this.recipients = [];
  }

  private line(text: string): void {
    this.d.transcript?.push({ session: this.label, at: this.d.deps.clock.now(), text });
  }
}

function fromWire(wire: WireReply, disconnect: boolean, probe: Probe): Reply {
  // The first line carries the text a fixture matches (EHLO's keywords follow it).
  const first = wire.lines[0]!;
  const rest = first.slice(4);
  const m = /^([245]\.\d{1,3}\.\d{1,3}) (.*)$/.exec(rest);
  return {
    code: wire.code,
    enhanced: m ? m[1]! : '',
    text: m ? m[2]! : rest,
    disconnect,
    tarpitMs: probe.tarpitMs,
    fault: probe.fault,
    source: 'policy',
  };
}
