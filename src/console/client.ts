import { connect, type Socket } from 'node:net';
import { ConsoleClientError } from './errors.ts';
import { END } from './framing.ts';

export type ConsoleTarget = { socket: string } | { host: string; port: number; token: string };

/**
 * One connection to a control socket. Commands are answered in order; each
 * answer is the lines up to the "." terminator, dot-unstuffed.
 */
export class ConsoleClient {
  private buf = '';
  private lines: string[] = [];
  private waiting: { resolve: (lines: string[]) => void; reject: (err: Error) => void }[] = [];
  private closed: Error | null = null;

  private constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.onData(chunk));
    sock.on('error', (err) => this.fail(new ConsoleClientError(`connection error: ${err.message}`, { cause: err })));
    sock.on('close', () => this.fail(new ConsoleClientError('connection closed by the server')));
  }

  static async connect(target: ConsoleTarget, timeoutMs = 5000): Promise<ConsoleClient> {
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = 'socket' in target ? connect(target.socket) : connect(target.port, target.host);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new ConsoleClientError(`timed out connecting to ${describe(target)}`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(new ConsoleClientError(`cannot connect to ${describe(target)}: ${err.message}`, { cause: err }));
      });
    });
    const client = new ConsoleClient(sock);
    if ('token' in target) {
      const answer = await client.run(`auth ${target.token}`);
      if (answer[0] !== 'OK') {
        client.close();
        throw new ConsoleClientError(answer[0] ?? 'authentication failed');
      }
    }
    return client;
  }

  /** Sends one command line; resolves with the answer's lines. */
  run(line: string): Promise<string[]> {
    if (this.closed !== null) return Promise.reject(this.closed);
    if (/[\r\n]/.test(line)) return Promise.reject(new ConsoleClientError('a command is a single line'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.sock.write(`${line}\n`);
    });
  }

  close(): void {
    this.sock.destroy();
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    const parts = this.buf.split('\n');
    this.buf = parts.pop()!;
    for (const l of parts) {
      if (l === END) {
        const w = this.waiting.shift();
        const got = this.lines;
        this.lines = [];
        w?.resolve(got);
        continue;
      }
      this.lines.push(l.startsWith('..') ? l.slice(1) : l);
    }
  }

  private fail(err: Error): void {
    if (this.closed !== null) return;
    this.closed = err;
    for (const w of this.waiting.splice(0)) w.reject(err);
  }
}

function describe(t: ConsoleTarget): string {
  return 'socket' in t ? t.socket : `${t.host}:${t.port}`;
}
