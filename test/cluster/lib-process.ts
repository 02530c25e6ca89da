/**
 * Real `moonwatch serve` processes for the cluster tests: `node bin/moonwatch.js`,
 * each with its own config, control socket and SMTP port, killable with SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../helpers/redis-server.ts';
import { controlSocketAnswers, runConsoleLineAt } from '../helpers/control-socket.ts';

export interface NodeProcess {
  readonly name: string;
  readonly dir: string;
  readonly smtpPort: number;
  proc: ChildProcess;
  stderr(): string;
  logs(): string;
  run(line: string): Promise<string[]>;
  kill9(): Promise<void>;
  stop(): Promise<number | null>;
}

export interface NodeSpec {
  name: string;
  dir: string;
  lua: string;
  /** The cluster section's body lines (without "cluster:"). */
  cluster: string[];
}

export function clusterLines(name: string, redis: { url?: string; nodes?: string[] }, extra: string[] = []): string[] {
  return [
    `node: ${name}`,
    ...(redis.url !== undefined ? [`redis: ${redis.url}`] : [`redis_cluster: [${redis.nodes!.map((u) => `"${u}"`).join(', ')}]`]),
    'max_delay: 0.1',
    'lease: 2',
    'heartbeat: 0.25',
    'timeout_ms: 500',
    ...extra,
  ];
}

export async function startNode(spec: NodeSpec): Promise<NodeProcess> {
  mkdirSync(join(spec.dir, 'scripts'), { recursive: true });
  writeFileSync(join(spec.dir, 'scripts', 'policy.lua'), spec.lua);
  const smtpPort = await freePort();
  const file = join(spec.dir, 'moonwatch.yaml');
  writeFileSync(
    file,
    [
      `listen: ["127.0.0.1:${smtpPort}"]`,
      `hostname: ${spec.name}.test.example`,
      'inbound_audit:',
      '  monitors: ["300,6", "1800,4"]',
      '  log_dir: journal',
      'scripts:',
      '  dir: scripts',
      '  modules: [policy]',
      '  hot_reload: false',
      'control:',
      '  socket: ctl.sock',
      'log:',
      '  level: info',
      'cluster:',
      ...spec.cluster.map((l) => `  ${l}`),
      '',
    ].join('\n'),
  );
  const socket = join(spec.dir, 'ctl.sock');
  const proc = spawn(process.execPath, ['bin/moonwatch.js', 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const until = Date.now() + 90_000;
  while (!(await controlSocketAnswers(socket))) {
    if (proc.exitCode !== null) throw new Error(`node ${spec.name} exited: ${err}${out}`);
    if (Date.now() > until) throw new Error(`node ${spec.name} did not start: ${err}${out}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    name: spec.name,
    dir: spec.dir,
    smtpPort,
    proc,
    stderr: () => err,
    logs: () => out,
    run: (line) => runConsoleLineAt(socket, line),
    async kill9() {
      proc.kill('SIGKILL');
      await exit;
    },
    async stop() {
      proc.kill('SIGTERM');
      return exit;
    },
  };
}

/** Sum of the "<Type> 1800/k" lines of a show ip answer (2 h: no window boundary in a test). */
export function total(lines: string[], type = 'Connections'): number {
  let n = 0;
  for (const l of lines) {
    const m = new RegExp(`^${type} 1800/\\d+: (\\d+)$`).exec(l);
    if (m !== null) n += Number(m[1]);
  }
  return n;
}

/** One SMTP session: greeting, QUIT. Resolves with the greeting's code. */
export function smtpSession(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let buf = '';
    let code = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      if (!buf.endsWith('\r\n')) return;
      if (code === '') {
        code = buf.slice(0, 3);
        if (code === '220') s.write('QUIT\r\n');
        else s.end();
      } else if (buf.includes('221')) s.end();
    });
    s.on('close', () => resolve(code));
    s.on('error', reject);
  });
}

/** A session held open after the greeting (an open inbound_cidr gauge); close() ends it. */
export function holdSession(port: number): Promise<{ close(): void }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    s.setEncoding('utf8');
    s.once('data', () => resolve({ close: () => s.destroy() }));
    s.on('error', reject);
  });
}

export async function poll<T>(fn: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    try {
      last = await fn();
      if (ok(last)) return last;
    } catch {
      // not ready yet
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
