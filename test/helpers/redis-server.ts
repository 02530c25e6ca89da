/**
 * Real redis-server processes for tests: free loopback ports, temporary
 * directories, no persistence, and every process killed when the test file's
 * worker exits (even on a timeout), so none is ever left running.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = () => {
    for (const p of live) p.kill('SIGKILL');
  };
  process.once('exit', killAll);
}

/** A TCP port nothing listens on right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on the port (polls every 20 ms, up to timeoutMs). */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function redisAvailable(): boolean {
  return spawnSync('redis-server', ['--version']).status === 0;
}

export interface RedisProcess {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** SIGKILL, as a crash would; resolves when the process has exited. */
  kill(): Promise<void>;
  /** Starts a new process on the same port and directory (empty data: no persistence). */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: a Redis that hangs without closing its sockets. */
  pause(): void;
  resume(): void;
  /** Stops the process and removes its directory. */
  stop(): Promise<void>;
}

function launch(port: number, dir: string, extra: string[]): ChildProcess {
  installExitHook();
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    '--appendonly', 'no',
    '--protected-mode', 'no',
    ...extra,
  ];
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Whether the redis-server listening on the port is this child (INFO server names its pid). */
function ownsPort(child: ChildProcess, port: number): boolean {
  if (child.exitCode !== null || child.signalCode !== null) return false;
  const info = spawnSync('redis-cli', ['-p', String(port), 'info', 'server'], { encoding: 'utf8', timeout: 5_000 }).stdout ?? '';
  return info.includes(`process_id:${child.pid}`);
}

async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => child.once('exit', () => resolve()));
}

/** One redis-server on a free loopback port. */
export async function startRedis(extra: string[] = []): Promise<RedisProcess> {
  if (!redisAvailable()) throw new Error('redis-server is not installed: run `sh scripts/test-deps.sh` (the README test command does)');
  const dir = mkdtempSync(join(tmpdir(), 'mw-redis-'));
  // A free port can be taken by another process between freePort() and the
  // bind (tests run in parallel): only a port that answers with this child's
  // own process id is ours; otherwise start again on another port.
  let port = 0;
  let child: ChildProcess | undefined;
  for (let attempt = 0; child === undefined; attempt++) {
    port = await freePort();
    const c = launch(port, dir, extra);
    await waitForPort(port);
    if (ownsPort(c, port)) child = c;
    else {
      c.kill('SIGKILL');
      await exited(c);
      if (attempt >= 5) throw new Error('could not start redis-server on a free port after 6 attempts');
    }
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    async kill() {
      child!.kill('SIGKILL');
      await exited(child!);
    },
    async restart() {
      child!.kill('SIGKILL');
      await exited(child!);
      child = launch(port, dir, extra);
      await waitForPort(port);
      if (!ownsPort(child, port)) throw new Error(`redis-server could not take port ${port} back on restart`);
    },
    pause() {
      child!.kill('SIGSTOP');
    },
    resume() {
      child!.kill('SIGCONT');
    },
    async stop() {
      child!.kill('SIGKILL');
      await exited(child!);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RedisClusterProcesses {
  /** Seed nodes, e.g. ["redis://127.0.0.1:7001", …]. */
  readonly urls: string[];
  readonly nodes: RedisProcess[];
  stop(): Promise<void>;
}

/**
 * A real Redis Cluster of `masters` masters and no replicas (all 16384 slots
 * assigned), created with `redis-cli --cluster create`.
 */
export async function startRedisCluster(masters = 3): Promise<RedisClusterProcesses> {
  const nodes: RedisProcess[] = [];
  for (let i = 0; i < masters; i++) {
    nodes.push(await startRedis(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000']));
  }
  const hosts = nodes.map((n) => `127.0.0.1:${n.port}`);
  const made = spawnSync('redis-cli', ['--cluster', 'create', ...hosts, '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8' });
  if (made.status !== 0) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw new Error(`redis-cli --cluster create failed: ${made.stdout}${made.stderr}`);
  }
  // The cluster is usable once every node reports cluster_state:ok.
  const until = Date.now() + 15_000;
  for (const n of nodes) {
    for (;;) {
      const info = spawnSync('redis-cli', ['-p', String(n.port), 'cluster', 'info'], { encoding: 'utf8' }).stdout;
      if (info.includes('cluster_state:ok')) break;
      if (Date.now() > until) throw new Error(`redis cluster node ${n.port} not ready: ${info}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    urls: nodes.map((n) => n.url),
    nodes,
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}
