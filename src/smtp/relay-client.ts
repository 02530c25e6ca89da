/**
 * A small SMTP client for relaying one message to a next hop, one command at a
 * time. Small on purpose: the relay sink needs exact control over when the
 * message counts as accepted (the next hop's 250 after DATA) and over what is
 * passed back when it refuses, which a general mailer hides behind retries.
 */
import { connect, type Socket } from 'node:net';
import { RelayRejectedError, RelayUnavailableError, type RemoteReply } from './errors.ts';

export interface RelayRequest {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  readonly heloName: string;
  readonly mailFrom: string;
  readonly recipients: readonly string[];
  /** CRLF line endings, not dot-stuffed. */
  readonly raw: Buffer;
}

interface Reply {
  code: number;
  lines: string[];
}

const MAX_REPLY_BYTES = 64 * 1024;

/** Relays one message; resolves with the next hop's final reply text, or throws RelayRejected/RelayUnavailable. */
export async function relayMessage(req: RelayRequest): Promise<string> {
  const conn = await SmtpClient.open(req.host, req.port, req.timeoutMs);
  try {
    expect('greeting', await conn.reply(), 2);
    let ehlo = await conn.command(`EHLO ${req.heloName}`);
    if (ehlo.code >= 500) ehlo = await conn.command(`HELO ${req.heloName}`);
    expect('EHLO', ehlo, 2);
    expect('MAIL', await conn.command(`MAIL FROM:<${req.mailFrom}>`), 2);
    for (const rcpt of req.recipients) {
      // One refused recipient refuses the whole message: the client already got
      // 250 for every RCPT from us, so a partial delivery could only be reported
      // by a bounce, and we do not generate bounces.
      expect('RCPT', await conn.command(`RCPT TO:<${rcpt}>`), 2);
    }
    expect('DATA', await conn.command('DATA'), 3);
    const final = await conn.send(dotStuff(req.raw));
    expect('end of DATA', final, 2);
    conn.quit();
    return `${final.code} ${final.lines.join(' ')}`;
  } catch (err) {
    conn.abort();
    throw err;
  }
}

function expect(stage: string, reply: Reply, klass: number): void {
  if (Math.floor(reply.code / 100) === klass) return;
  if (reply.code >= 400 && reply.code <= 599) throw new RelayRejectedError(stage, toRemoteReply(reply));
  throw new RelayUnavailableError(`next hop answered ${stage} with unexpected ${reply.code} ${reply.lines.join(' ')}`);
}

function toRemoteReply(reply: Reply): RemoteReply {
  const text = reply.lines.join(' ');
  const m = /^([245]\.\d{1,3}\.\d{1,3})\s*(.*)$/.exec(text);
  return m === null ? { code: reply.code, enhanced: '', text } : { code: reply.code, enhanced: m[1]!, text: m[2]! };
}

/** Dot-stuffs the body and appends the terminator, ensuring the body ends with CRLF. */
export function dotStuff(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let start = 0;
  if (raw.length > 0 && raw[0] === 0x2e) parts.push(Buffer.from('.'));
  for (let i = 0; i < raw.length - 1; i++) {
    if (raw[i] === 0x0a && raw[i + 1] === 0x2e) {
      parts.push(raw.subarray(start, i + 1), Buffer.from('.'));
      start = i + 1;
    }
  }
  parts.push(raw.subarray(start));
  const endsWithCrlf = raw.length >= 2 && raw[raw.length - 2] === 0x0d && raw[raw.length - 1] === 0x0a;
  parts.push(Buffer.from(endsWithCrlf || raw.length === 0 ? '.\r\n' : '\r\n.\r\n'));
  return Buffer.concat(parts);
}

class SmtpClient {
  private buffer = '';
  private waiter: { resolve: (r: Reply) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly timeoutMs: number,
    private readonly where: string,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(new RelayUnavailableError(`next hop ${where}: ${err.message}`, { cause: err })));
    socket.on('close', () => this.fail(new RelayUnavailableError(`next hop ${where} closed the connection`)));
  }

  static open(host: string, port: number, timeoutMs: number): Promise<SmtpClient> {
    const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new RelayUnavailableError(`next hop ${where}: connect timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new SmtpClient(socket, timeoutMs, where));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new RelayUnavailableError(`next hop ${where}: ${err.message}`, { cause: err }));
      });
    });
  }

  command(line: string): Promise<Reply> {
    return this.send(Buffer.from(`${line}\r\n`));
  }

  send(data: Buffer): Promise<Reply> {
    const p = this.reply();
    this.socket.write(data);
    return p;
  }

  reply(): Promise<Reply> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise<Reply>((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.timer = setTimeout(
        () => this.fail(new RelayUnavailableError(`next hop ${this.where}: no reply within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      this.parse();
    });
  }

  quit(): void {
    // The message is accepted already; the QUIT reply changes nothing.
    this.socket.end('QUIT\r\n');
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  abort(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer += chunk.toString('latin1');
    if (this.buffer.length > MAX_REPLY_BYTES) {
      this.fail(new RelayUnavailableError(`next hop ${this.where}: reply too long`));
      return;
    }
    this.parse();
  }

  private parse(): void {
    if (this.waiter === undefined) return;
    const lines: string[] = [];
    let pos = 0;
    for (;;) {
      const nl = this.buffer.indexOf('\n', pos);
      if (nl < 0) return;
      const line = this.buffer.slice(pos, nl).replace(/\r$/, '');
      pos = nl + 1;
      const m = /^(\d{3})([ -]?)(.*)$/.exec(line);
      if (m === null) {
        this.fail(new RelayUnavailableError(`next hop ${this.where}: malformed reply "${line.slice(0, 80)}"`));
        return;
      }
      lines.push(m[3]!);
      if (m[2] !== '-') {
        this.buffer = this.buffer.slice(pos);
        const w = this.waiter;
        this.waiter = undefined;
        clearTimeout(this.timer);
        w.resolve({ code: Number(m[1]), lines });
        return;
      }
    }
  }

  private fail(err: Error): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    clearTimeout(this.timer);
    this.socket.destroy();
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }
}
