/**
 * The one place that talks to the `redis` package (node-redis v6). Everything
 * else in moonwatch sees only RedisLink: commands routed by key, Lua scripts
 * by SHA with a NOSCRIPT fallback, a count of commands sent, and one state
 * callback per up/down transition. Commands never queue while disconnected
 * (disableOfflineQueue) and time out after `timeoutMs` even when already sent,
 * so a dead or hung Redis costs replication a retry, never a wait.
 */
import { createHash } from 'node:crypto';
import { createClient, createCluster } from 'redis';
import { errorMessage } from '../errors.ts';

export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

export function luaScript(name: string, source: string): LuaScript {
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

export interface RedisEndpoint {
  /** One server: "redis://host:port". */
  readonly url?: string;
  /** Redis Cluster seed nodes. */
  readonly nodes?: readonly string[];
}

export interface RedisLink {
  readonly kind: 'single' | 'cluster';
  /** One command, routed to the node owning `key` (any node when undefined). */
  command(key: string | undefined, args: readonly string[]): Promise<unknown>;
  /** EVALSHA, and EVAL when the server does not know the script yet (restart, new master). */
  script(s: LuaScript, keys: readonly string[], args: readonly string[]): Promise<unknown>;
  /** Commands sent since start (the replication budget is measured on this). */
  readonly sent: number;
  readonly up: boolean;
  close(): Promise<void>;
}

export interface RedisLinkOptions {
  endpoint: RedisEndpoint;
  timeoutMs: number;
  /** Called once per transition: up=true when connected, false with the reason when lost. */
  onState: (up: boolean, reason?: string) => void;
}

type Send = (key: string | undefined, args: string[]) => Promise<unknown>;

const RECONNECT_CAP_MS = 2000;

export function openRedisLink(opts: RedisLinkOptions): RedisLink {
  const commandOptions = { timeout: opts.timeoutMs, rejectInFlight: true };
  const socket = {
    connectTimeout: Math.max(opts.timeoutMs, 1000),
    reconnectStrategy: (retries: number) => Math.min(50 * 2 ** Math.min(retries, 10), RECONNECT_CAP_MS) + Math.floor(Math.random() * 50),
  };
  // null until the first outcome, so a Redis that is down from the start is reported too.
  let up: boolean | null = null;
  let closed = false;
  const setUp = (v: boolean, reason?: string): void => {
    if (v === up || closed) return;
    up = v;
    opts.onState(v, reason);
  };
  let send: Send;
  let closeFn: () => Promise<void>;
  let kind: 'single' | 'cluster';
  if (opts.endpoint.nodes !== undefined && opts.endpoint.nodes.length > 0) {
    kind = 'cluster';
    const cluster = createCluster({
      rootNodes: opts.endpoint.nodes.map((url) => ({ url })),
      defaults: { socket, disableOfflineQueue: true },
      RESP: 2,
    });
    cluster.on('error', (err: unknown) => setUp(false, errorMessage(err)));
    cluster.on('node-error', (err: unknown) => setUp(false, errorMessage(err)));
    let connected = false;
    let retry: NodeJS.Timeout | undefined;
    const connect = (attempt: number): void => {
      cluster.connect().then(
        () => {
          connected = true;
          setUp(true);
        },
        (err: unknown) => {
          setUp(false, errorMessage(err));
          if (!closed) retry = setTimeout(() => connect(attempt + 1), socket.reconnectStrategy(attempt));
        },
      );
    };
    connect(0);
    send = (key, args) => {
      if (!connected) return Promise.reject(new Error('redis cluster not connected yet'));
      return cluster.sendCommand(key, false, args, commandOptions);
    };
    closeFn = async () => {
      clearTimeout(retry);
      if (connected) await cluster.close().catch(() => undefined);
    };
  } else {
    kind = 'single';
    const client = createClient({ url: opts.endpoint.url ?? 'redis://127.0.0.1:6379', socket, disableOfflineQueue: true, RESP: 2 });
    client.on('error', (err: unknown) => setUp(false, errorMessage(err)));
    client.on('ready', () => setUp(true));
    client.on('end', () => setUp(false, 'connection closed'));
    client.connect().catch((err: unknown) => setUp(false, errorMessage(err)));
    send = (_key, args) => client.sendCommand(args, commandOptions);
    closeFn = async () => {
      await client.close().catch(() => undefined);
    };
  }
  let sent = 0;
  const run: Send = async (key, args) => {
    sent++;
    try {
      const r = await withTimeout(send(key, args), opts.timeoutMs);
      setUp(true);
      return r;
    } catch (err) {
      // Before the first connection, "offline" only means "still connecting";
      // a real connection failure arrives as an 'error' event with its cause.
      if (!isReplyError(err) && !(up === null && /offline|not connected yet/i.test(errorMessage(err)))) setUp(false, errorMessage(err));
      throw err;
    }
  };
  return {
    kind,
    get sent() {
      return sent;
    },
    get up() {
      return up === true;
    },
    command: (key, args) => run(key, [...args]),
    async script(s, keys, args) {
      const tail = [String(keys.length), ...keys, ...args];
      try {
        return await run(keys[0], ['EVALSHA', s.sha, ...tail]);
      } catch (err) {
        if (!/NOSCRIPT/.test(errorMessage(err))) throw err;
        return run(keys[0], ['EVAL', s.source, ...tail]);
      }
    },
    async close() {
      closed = true;
      // A client still reconnecting to a dead server must not hold up a shutdown.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closeFn(), new Promise<void>((r) => (timer = setTimeout(r, 1000)))]);
      clearTimeout(timer);
    },
  };
}

/**
 * Our own deadline on every command, on top of the client's: a hung server
 * (SIGSTOP, a stalled network) must mark the link down within timeoutMs even
 * when the client's timer does not fire (seen under vitest's worker pool). A
 * dozen commands a second make a timer each cheap enough.
 */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis command timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/** An error reply from Redis (the server answered): the link is up. */
function isReplyError(err: unknown): boolean {
  return err instanceof Error && (err.constructor.name === 'ErrorReply' || /^(ERR|NOSCRIPT|WRONGTYPE|BUSY|CROSSSLOT|MOVED|ASK)\b/.test(err.message));
}
