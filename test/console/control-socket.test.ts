import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditStore } from '../../src/audit/store.ts';
import { runConsole } from '../../src/cli/console.ts';
import { SystemClock } from '../../src/clock.ts';
import { parseConfig } from '../../src/config/load.ts';
import { engineOptionsFrom, storeOptionsFrom } from '../../src/config/schema.ts';
import { ConsoleClient } from '../../src/console/client.ts';
import { ControlServer } from '../../src/console/control-server.ts';
import { MAX_COMMAND_BYTES } from '../../src/console/framing.ts';
import { captureLogger } from '../../src/log.ts';
import { createEngine, type Engine } from '../../src/policy/engine.ts';
import { waitUntil } from '../helpers/wait.ts';

const TOKEN = 'a-long-enough-console-token';
let dir: string;
let engine: Engine;
let store: AuditStore;
let server: ControlServer;
let port: number;
const { logger, records } = captureLogger('debug');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mw-ctl-'));
  mkdirSync(join(dir, 'scripts'));
  writeFileSync(
    join(dir, 'scripts', 'p.lua'),
    'require("msys.audit_series")\nlocal p = {}\nfunction p:init() msys.audit_series.define("s", "string", 60, 2) return true end\nmsys.registerModule("p", p)\n',
  );
  const config = parseConfig('listen: ["127.0.0.1:0"]\ninbound_audit:\n  monitors: ["60,2"]\nscripts:\n  dir: scripts\n  modules: [p]\n  hot_reload: false\n', join(dir, 'm.yaml'));
  const clock = new SystemClock();
  store = new AuditStore(storeOptionsFrom(config, { clock, logger }));
  engine = await createEngine(engineOptionsFrom(config, { clock, logger, store }));
  server = await ControlServer.start({
    socketPath: join(dir, 'ctl.sock'),
    tcp: { host: '127.0.0.1', port: 0 },
    token: TOKEN,
    logger,
    deps: { store, engine, serializeDir: dir, logger },
    maxClients: 4,
  });
  port = server.addresses().tcp!.port;
});

afterAll(async () => {
  await server.close();
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
});

function capture() {
  let out = '';
  let err = '';
  return { io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } }, out: () => out, err: () => err };
}

describe('control socket', () => {
  it('serves the Unix socket with mode 0600 and logs each command', async () => {
    expect(statSync(join(dir, 'ctl.sock')).mode & 0o777).toBe(0o600);
    const c = await ConsoleClient.connect({ socket: join(dir, 'ctl.sock') });
    expect(await c.run('inbound_audit add s 60,2 k 2')).toEqual(['OK s k 2']);
    c.close();
    expect(records.some((r) => r.msg === 'console command' && r['command'] === 'inbound_audit add s 60,2 k 2')).toBe(true);
  });

  it('takes loopback TCP only with the token', async () => {
    const c = await ConsoleClient.connect({ host: '127.0.0.1', port, token: TOKEN });
    expect(await c.run('inbound_audit count_cidr k s 60,2 0 1')).toEqual(['2']);
    c.close();
    await expect(ConsoleClient.connect({ host: '127.0.0.1', port, token: 'wrong-token-wrong-token' })).rejects.toMatchObject({
      code: 'MW_ERR_CONSOLE_CLIENT',
      message: expect.stringMatching(/authentication required/),
    });
  });

  it('refuses a TCP command sent before auth, and closes', async () => {
    const answer = await rawExchange({ port }, 'inbound_audit add s 60,2 k 100\n');
    expect(answer).toMatch(/^Error: authentication required/);
    expect(store.series.count('s', 'k', 0, 1)).toBe(2);
  });

  it('refuses an overlong command line and closes the connection', async () => {
    const answer = await rawExchange({ path: join(dir, 'ctl.sock') }, `${'x'.repeat(MAX_COMMAND_BYTES + 10)}\n`);
    expect(answer).toMatch(/^Error: command longer than/);
  });

  it('refuses TCP on a non-loopback address or without a token', async () => {
    await expect(ControlServer.start({ tcp: { host: '0.0.0.0', port: 0 }, token: TOKEN, logger, deps: { store, engine, serializeDir: dir, logger } })).rejects.toMatchObject({
      code: 'MW_ERR_CONTROL_SOCKET',
    });
    await expect(ControlServer.start({ tcp: { host: '127.0.0.1', port: 0 }, logger, deps: { store, engine, serializeDir: dir, logger } })).rejects.toMatchObject({
      code: 'MW_ERR_CONTROL_SOCKET',
    });
  });

  it('will not take over a live socket or a file that is not a socket, but replaces a stale one', async () => {
    const deps = { store, engine, serializeDir: dir, logger };
    await expect(ControlServer.start({ socketPath: join(dir, 'ctl.sock'), logger, deps })).rejects.toMatchObject({ code: 'MW_ERR_CONTROL_SOCKET' });
    writeFileSync(join(dir, 'plain'), 'x');
    await expect(ControlServer.start({ socketPath: join(dir, 'plain'), logger, deps })).rejects.toMatchObject({ code: 'MW_ERR_CONTROL_SOCKET' });
    // A socket file nobody listens on: what a server killed with -9 leaves.
    const stale = join(dir, 'stale.sock');
    await leaveStaleSocket(stale);
    expect(statSync(stale).isSocket()).toBe(true);
    const s = await ControlServer.start({ socketPath: stale, logger, deps });
    const c = await ConsoleClient.connect({ socket: stale });
    expect((await c.run('status'))[0]).toBe('generation: 1');
    c.close();
    await s.close();
  });

  it('limits concurrent console connections', async () => {
    const held = await Promise.all([1, 2, 3, 4].map(() => ConsoleClient.connect({ socket: join(dir, 'ctl.sock') })));
    await Promise.all(held.map((c) => c.run('status')));
    expect(await rawExchange({ path: join(dir, 'ctl.sock') }, '')).toMatch(/^Error: too many console connections/);
    for (const c of held) c.close();
    await waitUntil(() => server.connections === 0, 'the closed console connections to be released');
  });
});

describe('moonwatch console command', () => {
  it('runs one command given as arguments and exits 0', async () => {
    const t = capture();
    expect(await runConsole(['--socket', join(dir, 'ctl.sock'), 'inbound_audit', 'count_cidr', 'k', 's', '60,2', '0', '1'], t.io)).toBe(0);
    expect(t.out()).toBe('2\n');
  });

  it('exits 1 when the command answers Error, printing the line', async () => {
    const t = capture();
    expect(await runConsole(['-s', join(dir, 'ctl.sock'), 'inbound_audit', 'add', 'nosuch', '60,2', 'k', '1'], t.io)).toBe(1);
    expect(t.out()).toMatch(/^Error: unknown series "nosuch"\n$/);
  });

  it('re-quotes arguments with blanks so they stay one word', async () => {
    const t = capture();
    expect(await runConsole(['-s', join(dir, 'ctl.sock'), 'inbound_audit', 'add', 's', '60,2', 'two words', '3'], t.io)).toBe(0);
    expect(t.out()).toBe('OK s two words 3\n');
  });

  it('uses loopback TCP with the token from the environment', async () => {
    const t = capture();
    const code = await runConsole(['--tcp', `127.0.0.1:${port}`, 'status'], { ...t.io, env: { MOONWATCH_CONSOLE_TOKEN: TOKEN } });
    expect(code).toBe(0);
    expect(t.out()).toContain('generation: 1\n');
  });

  it('opens a prompt without a command, answers each line and leaves on quit', async () => {
    const t = capture();
    const stdin = new PassThrough();
    const done = runConsole(['-s', join(dir, 'ctl.sock')], { ...t.io, stdin });
    stdin.write('status\n');
    stdin.write('frobnicate\n');
    stdin.write('quit\n');
    expect(await done).toBe(0);
    expect(t.out()).toContain('moonwatch> ');
    expect(t.out()).toContain('generation: 1\n');
    expect(t.out()).toContain('Error: unknown command "frobnicate" (try: help)\n');
  });

  it('reports an unreachable socket and a missing target', async () => {
    const t = capture();
    expect(await runConsole(['-s', join(dir, 'nothing.sock'), 'status'], t.io)).toBe(1);
    expect(t.err()).toMatch(/cannot connect to .*nothing\.sock/);
    const u = capture();
    expect(await runConsole(['status'], { ...u.io, env: {} })).toBe(2);
    expect(u.err()).toMatch(/--socket PATH, --config FILE or --tcp HOST:PORT is required/);
  });
});

function leaveStaleSocket(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', "require('net').createServer().listen(process.argv[1], () => console.log('up'))", path], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.stdout.once('data', () => child.kill('SIGKILL'));
    child.on('exit', () => resolve());
    child.on('error', reject);
  });
}

function rawExchange(target: { path: string } | { port: number }, send: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = 'path' in target ? connect(target.path) : connect(target.port, '127.0.0.1');
    let got = '';
    s.setEncoding('utf8');
    s.on('connect', () => {
      if (send !== '') s.write(send);
    });
    s.on('data', (d: string) => (got += d));
    s.on('close', () => resolve(got));
    s.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'EPIPE' || (err as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve(got) : reject(err)));
  });
}
