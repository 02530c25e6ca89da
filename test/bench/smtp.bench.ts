/**
 * SMTP throughput (issue 15): sessions per second and server CPU per session,
 * moonwatch beside a plain smtp-server that accepts everything, at 50 and 500
 * concurrent clients.
 *
 * The client is Postfix's `smtp-source` (C, one session per message: HELO,
 * MAIL, RCPT, DATA with 1 KB, QUIT), so the load generator costs little CPU
 * next to the servers. Install it with Debian's `postfix` package
 * (`apt-get install postfix`, which puts it at /usr/sbin/smtp-source). When it
 * is missing the bench says so and falls back to the Node load client
 * (test/smtp/lib/load-client.ts), which costs about as much CPU as the server
 * and so understates every server's rate.
 *
 * Each server runs in a process of its own — moonwatch as `moonwatch serve`
 * from the compiled build (dist/, what `npm start` and the installed package
 * run; `npm run bench` builds it first), plain smtp-server from
 * test/bench/plain-server.mjs — so its CPU time (every thread, from
 * /proc/<pid>/stat) is what it spent on the sessions of a window and nothing
 * else. Servers: plain smtp-server;
 * moonwatch with the lean five-phase policy; moonwatch with the six example
 * policies plus a probe module (at `log.level: warn`, and again at `info` as
 * shipped, logging to stdout → /dev/null). Every policy threshold is raised so
 * that the one-address load (smtp-source connects from 127.0.0.1) trips none:
 * every query and comparison still runs. The servers take turns, window by
 * window, over SMTP_BENCH_ROUNDS rounds (default 3; the order rotates), and
 * the medians are reported, each beside plain smtp-server's from the same run.
 *
 * moonwatch greets at once (`limits.greeting_delay_ms: 0`, the default);
 * smtp-server waits its fixed 100 ms, which caps it near 500 sessions/s at 50
 * clients — that is part of what the 50-client figures show. For a like-for-like
 * check, name these in SMTP_BENCH_ONLY: `plain+greet0` (plain smtp-server
 * greeting at once, as moonwatch does) and `five+greet100` /
 * `examples+greet100` (moonwatch with the library's 100 ms pause); each then
 * gets the same CPU targets against the matching baseline.
 *
 * Beside the figures, stderr gets smtp-source's own CPU per session against
 * each server (from this process's cutime/cstime): the client's cost moves
 * with the server's timing, and a window where it ran slow is visible there.
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, result, type BenchResult } from './lib.ts';
import { freePort, waitForPort } from '../helpers/redis-server.ts';
import { load, writeMoonwatchSetup, type PolicyChoice } from './smtp-targets.ts';

export { load, startMoonwatch, startPlain, type PolicyChoice, type Target } from './smtp-targets.ts';

type Kind = 'plain' | 'plain+greet0' | 'five' | 'examples' | 'examples-info' | 'five@before' | 'examples@before' | 'five+greet100' | 'examples+greet100';
/**
 * SMTP_BENCH_BEFORE=DIR: also run the five-phase and example servers from
 * another checkout (e.g. `git archive <commit> | tar -x -C DIR`, node_modules
 * linked, `npm run build` run there), interleaved with the others, to measure
 * a change before/after in the same run. Both run the scripts and config this
 * checkout writes.
 */
const BEFORE = process.env['SMTP_BENCH_BEFORE'];
const KINDS: readonly Kind[] = [
  'plain',
  'five',
  'examples',
  'examples-info',
  ...(BEFORE === undefined ? [] : (['five@before', 'examples@before'] as const)),
  // Only when named in SMTP_BENCH_ONLY.
  ...(['plain+greet0', 'five+greet100', 'examples+greet100'] as const).filter((k) => process.env['SMTP_BENCH_ONLY']?.split(',').includes(k) === true),
];
/** SMTP_BENCH_ONLY=plain,five,five@before: run only these servers (the report then has only the figures they make). */
const ONLY = process.env['SMTP_BENCH_ONLY']?.split(',');
const CLIENTS = (process.env['SMTP_BENCH_CLIENTS'] ?? '50,500').split(',').map(Number);
const ROUNDS = Math.max(1, Number(process.env['SMTP_BENCH_ROUNDS'] ?? 3));
/** Aim for windows of about this long (the session count is sized from the warm-up rate). */
const WINDOW_MS = Number(process.env['SMTP_BENCH_WINDOW_MS'] ?? 2500);
const CLK_TCK = 100;

export function smtpSourcePath(): string | undefined {
  for (const p of ['/usr/sbin/smtp-source', '/usr/bin/smtp-source']) if (existsSync(p)) return p;
  const which = spawnSync('sh', ['-c', 'command -v smtp-source'], { encoding: 'utf8' });
  const found = which.stdout.trim();
  return which.status === 0 && found !== '' ? found : undefined;
}

interface Server {
  readonly kind: Kind;
  readonly child: ChildProcess;
  readonly port: number;
  readonly pid: number;
  /** moonwatch's scripts and config, removed when it stops. */
  readonly dir?: string;
  /**
   * stdout of a moonwatch at `warn`, which logs nothing unless something went
   * wrong (a script fault, a host error): shown when a window fails. At
   * `info` stdout stays /dev/null, as measured.
   */
  readonly log?: string;
}

/**
 * Starts one server. moonwatch runs as operators run it: `moonwatch serve` from
 * the compiled build in dist/ (what `npm start` and the installed package run).
 * The TypeScript sources under tsx cost more per session (tsx keeps function
 * names by wrapping every closure it makes), so they are not what is measured.
 */
async function startServer(kind: Kind, devnull: number): Promise<Server> {
  const root = kind.endsWith('@before') ? BEFORE! : process.cwd();
  if (kind.startsWith('plain')) return forkPlain(kind, devnull);
  requireCurrentBuild(root);
  const [what, level] = kind === 'examples-info' ? ['examples', 'info'] : [kind.replace('@before', '').replace('+greet100', ''), 'warn'];
  const port = await freePort();
  const { dir, configFile } = writeMoonwatchSetup(what as PolicyChoice, {
    relaxed: true,
    logLevel: level as 'warn' | 'info',
    maxConnectionsPerIp: 100_000,
    listen: `127.0.0.1:${port}`,
    ...(kind.endsWith('+greet100') ? { greetingDelayMs: 100 } : {}),
  });
  const log = level === 'warn' ? join(dir, 'stdout.log') : undefined;
  const out = log === undefined ? devnull : openSync(log, 'w');
  const child = spawn(process.execPath, ['--max-semi-space-size=32', join(root, 'bin', 'moonwatch.js'), 'serve', '--config', configFile], {
    cwd: root,
    stdio: ['ignore', out, 'inherit'],
  });
  if (out !== devnull) closeSync(out);
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`bench server ${kind} exited with ${code}`))));
  await Promise.race([waitForPort(port, 30_000), exited]);
  return { kind, child, port, pid: child.pid!, dir, ...(log === undefined ? {} : { log }) };
}

async function forkPlain(kind: Kind, devnull: number): Promise<Server> {
  const child = fork(fileURLToPath(new URL('./plain-server.mjs', import.meta.url)), kind === 'plain+greet0' ? ['--greet-at-once'] : [], { execArgv: ['--max-semi-space-size=32'], stdio: ['ignore', devnull, 'inherit', 'ipc'] });
  const { port, pid } = await new Promise<{ port: number; pid: number }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as { port: number; pid: number }));
    child.once('exit', (code) => reject(new Error(`bench server ${kind} exited with ${code}`)));
  });
  return { kind, child, port, pid };
}

/** bin/moonwatch.js falls back to the sources when dist/ is older than src/: that would measure tsx, not moonwatch. */
function requireCurrentBuild(root: string): void {
  const built = join(root, 'dist', 'cli', 'main.js');
  const stale = !existsSync(built) || readdirSync(join(root, 'src'), { recursive: true }).some((f) => String(f).endsWith('.ts') && statSync(join(root, 'src', String(f))).mtimeMs > statSync(built).mtimeMs);
  if (stale) throw new Error(`smtp bench: ${join(root, 'dist')} is missing or older than src/: run npm run build there first (npm run bench does)`);
}

function stopServer(s: Server): Promise<void> {
  return new Promise((resolve) => {
    s.child.once('exit', () => {
      if (s.dir !== undefined) rmSync(s.dir, { recursive: true, force: true });
      resolve();
    });
    if (s.kind.startsWith('plain')) s.child.send('stop');
    else s.child.kill('SIGTERM');
  });
}

/** utime + stime of every thread of the process, ms. */
function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/**
 * cutime + cstime of this process, ms: the CPU of its children that have
 * exited and been waited for. During a window the only such child is
 * smtp-source (the servers are still running), so the difference across a
 * window is the client's own CPU.
 */
function exitedChildrenCpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / CLK_TCK;
}

interface Window {
  readonly rate: number;
  readonly cpuMsPerSession: number;
  /** smtp-source's CPU per session in the window (NaN with the Node client, which runs in this process). */
  readonly clientCpuMsPerSession: number;
  readonly failed: boolean;
}

/**
 * glibc malloc settings for smtp-source (SMTP_BENCH_CLIENT_MALLOC overrides;
 * empty: glibc's defaults). smtp-source fills every buffer it allocates
 * (Postfix's mymalloc), and its session buffers come from the top of the heap.
 * With glibc's default 128 KiB trim threshold, depending on the order in which
 * sessions end, the heap top is returned to the kernel and taken back over and
 * over: at 500 clients, about 50 page faults a session instead of 3, and the
 * client's CPU rose from about 0.2 to 0.7–0.9 ms a session, with sessions/s
 * falling with it. The order follows the server's timing, not its work: plain
 * smtp-server greeting at once (plain+greet0) put the client there too. A
 * threshold the heap never reaches keeps the client's cost the same against
 * every server (README, SMTP figures).
 */
const CLIENT_MALLOC = process.env['SMTP_BENCH_CLIENT_MALLOC'] ?? 'glibc.malloc.trim_threshold=1073741824';

function smtpSource(bin: string, port: number, concurrency: number, sessions: number): Promise<{ ok: boolean; output: string }> {
  const args = ['-s', String(concurrency), '-m', String(sessions), '-l', '1024', '-f', 'load@sender.example', '-t', 'alice@example.test', `127.0.0.1:${port}`];
  return new Promise((resolve) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GLIBC_TUNABLES: CLIENT_MALLOC } });
    let output = '';
    p.stdout.on('data', (d: Buffer) => (output += d.toString()));
    p.stderr.on('data', (d: Buffer) => (output += d.toString()));
    p.on('close', (code) => resolve({ ok: code === 0, output }));
  });
}

async function window(bin: string | undefined, s: Server, concurrency: number, sessions: number): Promise<Window> {
  const cpu0 = processCpuMs(s.pid);
  const t0 = performance.now();
  if (bin !== undefined) {
    const client0 = exitedChildrenCpuMs();
    const r = await smtpSource(bin, s.port, concurrency, sessions);
    const ms = performance.now() - t0;
    const cpu = processCpuMs(s.pid) - cpu0;
    if (!r.ok) {
      process.stderr.write(`smtp bench: smtp-source against ${s.kind} @${concurrency} failed: ${r.output.trim().slice(0, 300)}\n`);
      // What the server logged (a script fault says which phase, module and limit).
      if (s.log !== undefined) for (const line of readFileSync(s.log, 'utf8').trim().split('\n').slice(-5)) if (line !== '') process.stderr.write(`  ${s.kind}: ${line.slice(0, 500)}\n`);
    }
    return { rate: (sessions / ms) * 1000, cpuMsPerSession: cpu / sessions, clientCpuMsPerSession: (exitedChildrenCpuMs() - client0) / sessions, failed: !r.ok };
  }
  const measureMs = Math.max(1000, (sessions / Math.max(1, concurrency)) * 50);
  const r = await load(s.port, concurrency, { warmupMs: 0, measureMs });
  const cpu = processCpuMs(s.pid) - cpu0;
  // The window ends when the clients' last sessions finish, slightly after measureMs.
  const done = Math.max(1, r.completed + r.failed);
  return { rate: r.rate, cpuMsPerSession: cpu / done, clientCpuMsPerSession: NaN, failed: r.failed > 0 };
}

export default async function (): Promise<BenchResult[]> {
  const bin = smtpSourcePath();
  const client = bin === undefined ? 'Node client' : 'smtp-source';
  if (bin === undefined) {
    process.stderr.write(
      'smtp bench: smtp-source not found. Install Debian\'s postfix package (apt-get install postfix) for /usr/sbin/smtp-source; ' +
        'falling back to the Node load client, which shares the cores with the servers and understates their rates.\n',
    );
  }
  const devnull = openSync('/dev/null', 'w');
  const servers: Server[] = [];
  const out: BenchResult[] = [];
  try {
    for (const kind of KINDS) if (ONLY === undefined || ONLY.includes(kind)) servers.push(await startServer(kind, devnull));
    for (const concurrency of CLIENTS) {
      const sessionsFor = new Map<Kind, number>();
      // Warm-up (JIT, Lua, store): one window each, which also sizes the measured windows.
      for (const s of servers) {
        const w = await window(bin, s, concurrency, concurrency * 4);
        sessionsFor.set(s.kind, Math.max(concurrency * 4, Math.round((w.rate * WINDOW_MS) / 1000)));
      }
      const runs = new Map<Kind, Window[]>(KINDS.map((k) => [k, []]));
      const ran = (k: Kind): boolean => (runs.get(k)?.length ?? 0) > 0;
      for (let round = 0; round < ROUNDS; round++) {
        for (let i = 0; i < servers.length; i++) {
          const s = servers[(i + round) % servers.length]!;
          runs.get(s.kind)!.push(await window(bin, s, concurrency, sessionsFor.get(s.kind)!));
        }
      }
      const med = (k: Kind, f: (w: Window) => number): number => median(runs.get(k)!.map(f));
      /** CPU per session of `k` against `base`'s, both medians of this run. */
      const cpuVs = (name: string, k: Kind, base: Kind, limit: number): BenchResult =>
        result({ name, value: med(k, (w) => w.cpuMsPerSession), unit: 'ms', baseline: med(base, (w) => w.cpuMsPerSession), targetOn: 'ratio', cmp: '<=', limit });
      /** Sessions per second of `k` against `base`'s, both medians of this run. */
      const rateVs = (name: string, k: Kind, base: Kind, limit: number): BenchResult =>
        result({ name, value: med(k, (w) => w.rate), unit: 'sessions/s', baseline: med(base, (w) => w.rate), targetOn: 'ratio', cmp: '>=', limit });
      const rangeNote = (k: Kind): string => {
        const rs = runs.get(k)!.map((w) => w.cpuMsPerSession);
        return `${Math.min(...rs).toFixed(3)}–${Math.max(...rs).toFixed(3)}`;
      };
      process.stderr.write(
        `smtp bench @${concurrency} (${client}, ${ROUNDS} rounds): CPU ms/session ranges: ` +
          KINDS.filter(ran).map((k) => `${k} ${rangeNote(k)}`).join(', ') +
          '\n',
      );
      if (bin !== undefined) {
        // The client's cost moves with the server's timing (see the README): its median beside each server's.
        process.stderr.write(
          `smtp bench @${concurrency}: smtp-source's own CPU ms/session (median) against ` +
            KINDS.filter(ran).map((k) => `${k} ${med(k, (w) => w.clientCpuMsPerSession).toFixed(3)}`).join(', ') +
            '\n',
        );
      }
      for (const [kind, label, cpuLimit, rateLimit] of [
        ['five', 'lean five-phase policy', 1.3, 0.8],
        ['examples', 'six example policies + probe, thresholds raised', 1.45, 0.7],
      ] as const) {
        if (ran(kind) && ran('plain')) {
          out.push(
            cpuVs(`smtp server CPU per session, ${concurrency} clients, ${label} (${client}; baseline plain smtp-server)`, kind, 'plain', cpuLimit),
            rateVs(`smtp sessions/s, ${concurrency} clients, ${label} (${client}; baseline plain smtp-server)`, kind, 'plain', rateLimit),
          );
        }
        // Like for like (opt-in, SMTP_BENCH_ONLY): both servers greet at once, or both after 100 ms.
        if (ran(kind) && ran('plain+greet0')) {
          out.push(cpuVs(`smtp server CPU per session, ${concurrency} clients, ${label} (${client}; baseline plain smtp-server greeting at once)`, kind, 'plain+greet0', cpuLimit));
        }
        if (ran(`${kind}+greet100`) && ran('plain')) {
          out.push(cpuVs(`smtp server CPU per session, ${concurrency} clients, ${label}, 100 ms greeting pause (${client}; baseline plain smtp-server)`, `${kind}+greet100`, 'plain', cpuLimit));
        }
      }
      if (ran('examples-info') && ran('examples')) {
        out.push(cpuVs(`smtp server CPU per session at log.level info (as shipped), ${concurrency} clients, example policies (${client}; baseline the same at warn)`, 'examples-info', 'examples', 1.05));
      }
      if (BEFORE !== undefined) {
        for (const k of ['five', 'examples'] as const) {
          if (!ran(k) || !ran(`${k}@before`)) continue;
          out.push(
            cpuVs(`smtp server CPU per session, ${concurrency} clients, ${k}: this checkout (baseline: ${BEFORE})`, k, `${k}@before`, 1),
            rateVs(`smtp sessions/s, ${concurrency} clients, ${k}: this checkout (baseline: ${BEFORE})`, k, `${k}@before`, 1),
          );
        }
      }
      if (ran('plain+greet0') && ran('plain')) {
        // How the library's own pause moves its CPU per session (at 50 clients the paused baseline idles and costs more).
        out.push(cpuVs(`smtp server CPU per session, ${concurrency} clients, plain smtp-server greeting at once (baseline: the same after its 100 ms pause)`, 'plain+greet0', 'plain', 1));
      }
      const failed = KINDS.filter((k) => runs.get(k)!.some((w) => w.failed));
      if (failed.length > 0) process.stderr.write(`smtp bench @${concurrency}: windows with failed sessions: ${failed.join(', ')}\n`);
    }
  } finally {
    await Promise.all(servers.map(stopServer));
    closeSync(devnull);
  }
  return out;
}
