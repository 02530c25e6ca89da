/**
 * A lean raw-socket SMTP client for tests and the benchmark: one command at a
 * time, no pipelining, every reply parsed (multi-line included) and returned
 * exactly as the server sent it, so tests can assert on the bytes.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export interface Reply {
  readonly code: number;
  /** Text of the last line, after the code (and without the enhanced code). */
  readonly text: string;
  /** Enhanced status code of the last line, "" when absent. */
  readonly enhanced: string;
  /** Every line as received, without CRLF. */
  readonly lines: string[];
}

export interface ConnectOptions {
  readonly host: string;
  readonly port: number;
  readonly localAddress?: string;
  /** Per reply, ms. */
  readonly timeoutMs?: number;
}

export class RawSmtpClient {
  private buffer = '';
  private replies: Reply[] = [];
  private waiters: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  private ended = false;
  private endError: Error | undefined;
  /** Resolves when the server closed the connection (FIN or RST). */
  readonly closed: Promise<void>;

  private constructor(
    readonly socket: Socket,
    private readonly timeoutMs: number,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.ended = true;
        this.endError ??= new Error('connection closed');
        for (const w of this.waiters.splice(0)) w.reject(this.endError);
        resolve();
      });
    });
    socket.on('error', (err) => {
      this.endError = err;
    });
  }

  static open(opts: ConnectOptions): Promise<RawSmtpClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({
        host: opts.host,
        port: opts.port,
        ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }),
      });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawSmtpClient(socket, opts.timeoutMs ?? 10_000));
      });
      socket.once('error', reject);
    });
  }

  /** Opens and reads the greeting. */
  static async connect(opts: ConnectOptions): Promise<{ client: RawSmtpClient; greeting: Reply }> {
    const client = await RawSmtpClient.open(opts);
    return { client, greeting: await client.reply() };
  }

  get isClosed(): boolean {
    return this.ended;
  }

  /** The next reply from the server. */
  reply(): Promise<Reply> {
    const ready = this.replies.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.ended) return Promise.reject(this.endError ?? new Error('connection closed'));
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.waiters.push({
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  /** Sends one command line and waits for its reply. */
  command(line: string): Promise<Reply> {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }

  /** Raw bytes, no reply awaited. */
  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** DATA, then the message (CRLF line endings expected, dot-stuffed here), then the final reply. */
  async data(message: string): Promise<{ start: Reply; final?: Reply }> {
    const start = await this.command('DATA');
    if (start.code !== 354) return { start };
    const body = message.replace(/^\./gm, '..');
    this.socket.write(`${body}${body.endsWith('\r\n') ? '' : '\r\n'}.\r\n`);
    return { start, final: await this.reply() };
  }

  async quit(): Promise<Reply> {
    const r = await this.command('QUIT');
    await this.closed;
    return r;
  }

  /**
   * After the server's 220 to STARTTLS: the TLS handshake over this socket
   * (any certificate accepted), and a client that speaks through it. This
   * client is done with once the TLS socket owns the connection.
   */
  async startTls(): Promise<{ client: RawSmtpClient; tls: TLSSocket }> {
    const secure = tlsConnect({ socket: this.socket, rejectUnauthorized: false, servername: 'mx.test.example' });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    return { client: new RawSmtpClient(secure, this.timeoutMs), tls: secure };
  }

  /** Half-closes without QUIT. */
  end(): void {
    this.socket.end();
  }

  /** Aborts with a TCP RST. */
  reset(): void {
    this.socket.resetAndDestroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer += chunk.toString('latin1');
    let lines: string[] = [];
    for (;;) {
      const nl = this.buffer.indexOf('\r\n');
      if (nl < 0) break;
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 2);
      lines.push(line);
      if (/^\d{3} /.test(line) || /^\d{3}$/.test(line)) {
        this.deliver(parseReply(lines));
        lines = [];
      }
    }
    if (lines.length > 0) this.buffer = `${lines.map((l) => `${l}\r\n`).join('')}${this.buffer}`;
  }

  private deliver(r: Reply): void {
    const w = this.waiters.shift();
    if (w !== undefined) w.resolve(r);
    else this.replies.push(r);
  }
}

export function parseReply(lines: string[]): Reply {
  const last = lines[lines.length - 1]!;
  const code = Number(last.slice(0, 3));
  const rest = last.slice(4);
  const m = /^([245]\.\d{1,3}\.\d{1,3}) (.*)$/.exec(rest);
  return { code, enhanced: m ? m[1]! : '', text: m ? m[2]! : rest, lines };
}
