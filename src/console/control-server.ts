import { timingSafeEqual, createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { runConsoleLine, type ConsoleDeps } from './commands.ts';
import { ControlSocketError } from './errors.ts';
import { frameAnswer, LineSplitter, MAX_COMMAND_BYTES } from './framing.ts';

export interface ControlServerOptions {
  /** Unix socket path; created mode 0600. */
  socketPath?: string;
  /** Loopback TCP listener; needs `token`. Port 0 picks a free port. */
  tcp?: { host: string; port: number };
  /** Shared secret a TCP client must send first as `auth <token>`. */
  token?: string;
  deps: ConsoleDeps;
  logger: Logger;
  /** Concurrent console connections; more are refused with one error line. */
  maxClients?: number;
}

export interface ControlAddresses {
  socket?: string;
  tcp?: { host: string; port: number };
}

export const DEFAULT_MAX_CLIENTS = 16;

/** The live control listeners; close() stops them and removes the socket file. */
export class ControlServer {
  private readonly servers: Server[] = [];
  /** Every open connection, refused ones included: close() must not wait on any. */
  private readonly sockets = new Set<Socket>();
  private clients = 0;
  private addrs: ControlAddresses = {};

  private constructor(private readonly opts: ControlServerOptions) {}

  static async start(opts: ControlServerOptions): Promise<ControlServer> {
    if (opts.socketPath === undefined && opts.tcp === undefined) throw new ControlSocketError('no control socket path or TCP address given');
    if (opts.tcp !== undefined) {
      if (opts.tcp.host !== '127.0.0.1' && opts.tcp.host !== '::1') throw new ControlSocketError(`control TCP must listen on loopback (127.0.0.1 or ::1), not ${opts.tcp.host}`);
      if (opts.token === undefined || opts.token.length < 16) throw new ControlSocketError('control TCP needs a token of at least 16 characters');
    }
    const s = new ControlServer(opts);
    try {
      if (opts.socketPath !== undefined) await s.listenUnix(opts.socketPath);
      if (opts.tcp !== undefined) await s.listenTcp(opts.tcp.host, opts.tcp.port);
    } catch (err) {
      await s.close();
      throw err;
    }
    opts.logger.info({ ...s.addrs }, 'console control socket listening');
    return s;
  }

  /** Console connections being served (refused ones excluded). */
  get connections(): number {
    return this.clients;
  }

  addresses(): ControlAddresses {
    return { ...this.addrs };
  }

  async close(): Promise<void> {
    for (const c of this.sockets) c.destroy();
    await Promise.all(this.servers.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
    this.servers.length = 0;
    if (this.addrs.socket !== undefined) rmSync(this.addrs.socket, { force: true });
    this.addrs = {};
  }

  private async listenUnix(path: string): Promise<void> {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    await clearStaleSocket(path);
    const srv = this.newServer(false);
    // bind() creates the socket file with the process umask: narrow it for
    // that call so the file is never reachable by others, then chmod anyway.
    const old = process.umask(0o177);
    try {
      await listen(srv, () => srv.listen(path));
    } finally {
      process.umask(old);
    }
    this.addrs.socket = path;
    chmodSync(path, 0o600);
  }

  private async listenTcp(host: string, port: number): Promise<void> {
    const srv = this.newServer(true);
    await listen(srv, () => srv.listen(port, host));
    const a = srv.address();
    if (a !== null && typeof a === 'object') this.addrs.tcp = { host: a.address, port: a.port };
  }

  private newServer(needsToken: boolean): Server {
    const srv = createServer((sock) => this.serve(sock, needsToken));
    this.servers.push(srv);
    return srv;
  }

  private serve(sock: Socket, needsToken: boolean): void {
    const log = this.opts.logger;
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', (err) => log.debug({ err: errorMessage(err) }, 'console connection error'));
    if (this.clients >= (this.opts.maxClients ?? DEFAULT_MAX_CLIENTS)) {
      sock.end(frameAnswer(['Error: too many console connections']));
      return;
    }
    this.clients++;
    sock.on('close', () => this.clients--);
    sock.setEncoding('utf8');
    const lines = new LineSplitter(MAX_COMMAND_BYTES);
    let authed = !needsToken;
    // One command at a time per connection, in order: answers never interleave.
    let queue = Promise.resolve();
    sock.on('data', (chunk: string) => {
      const got = lines.push(chunk);
      if (got === null) {
        sock.end(frameAnswer([`Error: command longer than ${MAX_COMMAND_BYTES} bytes`]));
        return;
      }
      for (const line of got) {
        queue = queue.then(async () => {
          if (sock.destroyed || !sock.writable) return;
          if (!authed) {
            authed = this.checkToken(line);
            if (!authed) {
              log.warn({ remote: sock.remoteAddress }, 'console connection refused: bad or missing token');
              sock.end(frameAnswer(['Error: authentication required: send "auth <token>" first']));
              return;
            }
            sock.write(frameAnswer(['OK']));
            return;
          }
          const cmd = line.trim();
          if (cmd === 'quit' || cmd === 'exit') {
            sock.end(frameAnswer(['Bye']));
            return;
          }
          const out = await runConsoleLine(line, this.opts.deps);
          if (cmd !== '') log.info({ command: cmd.slice(0, 200), error: out[0]?.startsWith('Error:') === true }, 'console command');
          if (!sock.destroyed) sock.write(frameAnswer(out));
        });
      }
    });
  }

  private checkToken(line: string): boolean {
    const m = /^auth (.+)$/.exec(line);
    if (m === null || this.opts.token === undefined) return false;
    // Hash both sides: timingSafeEqual needs equal lengths and must not leak the token's.
    const a = createHash('sha256').update(m[1]!).digest();
    const b = createHash('sha256').update(this.opts.token).digest();
    return timingSafeEqual(a, b);
  }
}

function listen(srv: Server, go: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(new ControlSocketError(`cannot listen: ${err.message}`, { cause: err }));
    srv.once('error', onError);
    srv.once('listening', () => {
      srv.off('error', onError);
      resolve();
    });
    go();
  });
}

/**
 * A socket file left by a server that died is removed; one a live server
 * answers on, or anything that is not a socket, is never touched.
 */
async function clearStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new ControlSocketError(`${path} exists and is not a socket: refusing to replace it`);
  const live = await new Promise<boolean>((resolve) => {
    const c = connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (live) throw new ControlSocketError(`another server is listening on ${path}`);
  rmSync(path, { force: true });
}
