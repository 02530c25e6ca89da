/**
 * Runs the real `moonwatch serve` composition root for a test: config and Lua
 * written to a temp dir, the control socket inside it, signals delivered by
 * the test. Nothing is mocked; the process-level logger is kept quiet by the
 * config's log level.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { runServe } from '../../../src/cli/serve.ts';
import { monotonicMs, type Clock } from '../../../src/clock.ts';
import { ConsoleClient } from '../../../src/console/client.ts';
import { controlSocketAnswers, runConsoleLineAt } from '../../helpers/control-socket.ts';

export interface ServedInstance {
  readonly dir: string;
  readonly socket: string;
  readonly smtpPort: number;
  readonly stderr: () => string;
  /** Resolves with runServe's exit code. */
  readonly done: Promise<number>;
  console(): Promise<ConsoleClient>;
  /** One command on a fresh connection. */
  run(line: string): Promise<string[]>;
  stop(): Promise<number>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

export interface ServeFilesOptions {
  lua: string;
  /** YAML appended at the end (top-level sections). */
  extraYaml?: string;
  /** Extra `inbound_audit` settings, e.g. "persist_monitors: true". */
  auditSettings?: string[];
}

export function writeServeFiles(dir: string, opts: ServeFilesOptions & { smtpPort: number }): string {
  mkdirSync(join(dir, 'scripts'), { recursive: true });
  writeFileSync(join(dir, 'scripts', 'policy.lua'), opts.lua);
  const file = join(dir, 'moonwatch.yaml');
  writeFileSync(
    file,
    [
      `listen: ["127.0.0.1:${opts.smtpPort}"]`,
      'hostname: mx.test.example',
      'inbound_audit:',
      '  monitors: ["60,3", "300,2"]',
      '  serialize_dir: state',
      '  log_dir: journal',
      ...(opts.auditSettings ?? []).map((l) => `  ${l}`),
      'scripts:',
      '  dir: scripts',
      '  modules: [policy]',
      '  hot_reload: false',
      'control:',
      '  socket: ctl.sock',
      'log:',
      '  level: fatal',
      opts.extraYaml ?? '',
    ].join('\n'),
  );
  return file;
}

/** Starts serve and waits until the control socket answers (or serve exits). */
export async function serve(dir: string, opts: ServeFilesOptions & { args?: string[]; clock?: Clock }): Promise<ServedInstance> {
  const smtpPort = await freePort();
  const file = writeServeFiles(dir, { ...opts, smtpPort });
  const signals = new EventEmitter();
  let err = '';
  const io = {
    stdout: { write: () => true },
    stderr: { write: (s: string) => (err += s) },
    signals: { on: (s: NodeJS.Signals, fn: () => void) => signals.on(s, fn), off: (s: NodeJS.Signals, fn: () => void) => signals.off(s, fn) },
    ...(opts.clock ? { clock: opts.clock } : {}),
  };
  let exited: number | undefined;
  const done = runServe(['--config', file, ...(opts.args ?? [])], io).then((code) => (exited = code));
  const socket = join(dir, 'ctl.sock');
  // Polls until the socket answers; only a hung start (not a busy machine) runs out the time.
  const until = monotonicMs() + 20_000;
  while (exited === undefined && monotonicMs() < until) {
    if (await controlSocketAnswers(socket)) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const inst: ServedInstance = {
    dir,
    socket,
    smtpPort,
    stderr: () => err,
    done,
    console: () => ConsoleClient.connect({ socket }),
    run: (line) => runConsoleLineAt(socket, line),
    async stop() {
      signals.emit('SIGTERM');
      return done;
    },
  };
  return inst;
}

/** Opens and closes one SMTP session (counted as a connection at accept). */
export function smtpTouch(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      if (buf.startsWith('220') && buf.endsWith('\r\n') && !buf.includes('221')) s.write('QUIT\r\n');
      if (buf.includes('221')) s.end();
    });
    s.on('close', () => resolve());
    s.on('error', reject);
  });
}
