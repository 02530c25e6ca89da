/**
 * The operator's view of `moonwatch serve` as a real process: reload of the
 * config (SIGHUP, console, file change), restart-only settings, status,
 * /metrics and /healthz over real HTTP, Postfix-style decision lines, and a
 * SIGTERM that exits 0 even when the log's reader has gone.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monotonicMs } from '../../src/clock.ts';
import { runConsole } from '../../src/cli/console.ts';
import { freePort, waitForPort } from '../helpers/redis-server.ts';
import { RawSmtpClient } from '../smtp/lib/raw-client.ts';
import { startCli, type CliChild } from '../helpers/cli-process.ts';
import { runConsoleLineAt } from '../helpers/control-socket.ts';

const gate = (text: string) => `
require("msys.core")
require("msys.audit")
local g = {}
function g:validate_rcptto(msg, rcpt, ac, vctx)
  local seen = msys.audit.connections("60,10")
  print("rcpt " .. tostring(rcpt))
  if tostring(rcpt) == "nobody@example.test" then
    vctx:set_code(550, "5.1.1 ${text}")
    return msys.core.VALIDATE_DONE
  end
  if tostring(rcpt) == "boom@example.test" then
    error("database unreachable")
  end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("gate", g)
`;

function httpGet(url: string): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }));
    }).on('error', reject);
  });
}

async function consoleLine(socket: string, line: string): Promise<string> {
  return (await runConsoleLineAt(socket, line)).join('\n');
}

async function poll<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const until = monotonicMs() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (monotonicMs() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

let dir: string;
let child: CliChild;
let smtpPort: number;
let httpPort: number;
const config = (extra: string[] = []): string =>
  [
    `listen: ["127.0.0.1:${smtpPort}"]`,
    'hostname: mx.test.example',
    'inbound_audit: { monitors: ["60,10"] }',
    'scripts: { dir: scripts, modules: [gate], hot_reload: true, reload_debounce_ms: 20 }',
    `control: { socket: ${join(dir, 'ctl.sock')} }`,
    `http: { listen: "127.0.0.1:${httpPort}" }`,
    ...extra,
  ].join('\n');

async function rcpt(to: string): Promise<{ code: number; text: string }> {
  const { client } = await RawSmtpClient.connect({ host: '127.0.0.1', port: smtpPort });
  await client.command('EHLO client.example');
  await client.command('MAIL FROM:<a@sender.example>');
  const r = await client.command(`RCPT TO:<${to}>`);
  await client.quit();
  return { code: r.code, text: r.text };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mw-operator-'));
  mkdirSync(join(dir, 'scripts'));
  writeFileSync(join(dir, 'scripts', 'gate.lua'), gate('No such user'));
  smtpPort = await freePort();
  httpPort = await freePort();
  writeFileSync(join(dir, 'moonwatch.yaml'), config());
  child = startCli(['serve', '--config', join(dir, 'moonwatch.yaml')]);
  await child.waitFor((l) => l.msg === 'moonwatch serving', 'moonwatch serving');
}, 40_000);

afterAll(async () => {
  if (child.proc.exitCode === null) {
    child.proc.kill('SIGTERM');
    await child.exit;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('logs an operator can read', () => {
  it('writes ISO-8601 times and level names, and no field under two names', async () => {
    const serving = await child.waitFor((l) => l.msg === 'moonwatch serving', 'serving');
    expect(serving.level).toBe('info');
    expect(String(serving.time)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('explains a rejection once, Postfix-style, with who decided, on what figures, and why', async () => {
    expect(await rcpt('nobody@example.test')).toMatchObject({ code: 550 });
    const line = await child.waitFor((l) => l.msg === 'phase decision' && l.phase === 'rcptto' && l.verdict === 'reject', 'decision line');
    expect(line.decision).toMatch(/^reject: RCPT from unknown\[127\.0\.0\.1\]: 550 5\.1\.1 No such user; from=<a@sender\.example> to=<nobody@example\.test> helo=<client\.example> module=gate generation=\d+$/);
    expect(line).toMatchObject({ client: 'unknown[127.0.0.1]', helo: 'client.example', sender: 'a@sender.example', recipient: 'nobody@example.test', module: 'gate', code: 550, enhanced: '5.1.1', text: 'No such user' });
    expect(line.audit_reads).toEqual([{ fn: 'msys.audit.connections', monitor: '60,10', block: '127.0.0.1/32', windows: '0..0', value: expect.any(Number) }]);
    expect(Object.keys(line).filter((k) => /[A-Z]/.test(k))).toEqual([]);
    expect(child.lines.filter((l) => l.msg === 'phase decision' && l.recipient === 'nobody@example.test')).toHaveLength(1);
  });

  it('logs a script fault with script:line and the Lua message, and answers with the failure mode', async () => {
    expect(await rcpt('boom@example.test')).toMatchObject({ code: 451 });
    const fault = await child.waitFor((l) => typeof l.msg === 'string' && l.msg.includes('database unreachable'), 'fault line');
    expect(fault).toMatchObject({ level: 'error', module: 'gate', script: 'gate.lua', line: 13, phase: 'rcptto' });
    const decision = await child.waitFor((l) => l.msg === 'phase decision' && l.recipient === 'boom@example.test', 'fault decision');
    expect(decision.decision).toMatch(/^tempfail: RCPT from .* 451 4\.3\.0 .* module=gate fault=yes /);
  });
});

describe('/metrics and /healthz', () => {
  it('serves Prometheus text with sessions, verdicts by phase/module/class, faults, durations and reloads', async () => {
    const r = await httpGet(`http://127.0.0.1:${httpPort}/metrics`);
    expect(r.status).toBe(200);
    expect(r.type).toContain('text/plain');
    expect(r.body).toMatch(/^moonwatch_sessions_accepted \d+$/m);
    expect(r.body).toMatch(/^moonwatch_sessions_open \d+$/m);
    expect(r.body).toMatch(/^moonwatch_verdicts_total\{phase="rcptto",module="gate",code_class="5xx"\} [1-9]\d*$/m);
    expect(r.body).toMatch(/^moonwatch_script_faults_total\{phase="rcptto",module="gate"\} [1-9]\d*$/m);
    expect(r.body).toMatch(/^moonwatch_phase_duration_seconds_bucket\{le="0\.1",phase="rcptto"\} [1-9]\d*$/m);
    expect(r.body).toMatch(/^moonwatch_tracked_addresses\{monitors="60,10"\} [1-9]\d*$/m);
    for (const name of ['moonwatch_monitor_degraded_events', 'moonwatch_series_degraded_events', 'moonwatch_tarpit_seconds_total', 'moonwatch_sink_errors_total', 'moonwatch_script_generation']) {
      expect(r.body).toContain(`# TYPE ${name} `);
    }
  });

  it('answers /healthz with 200 ok while serving and 404 elsewhere', async () => {
    expect(await httpGet(`http://127.0.0.1:${httpPort}/healthz`)).toMatchObject({ status: 200, body: 'ok\n' });
    expect((await httpGet(`http://127.0.0.1:${httpPort}/nope`)).status).toBe(404);
  });
});

describe('reload means the config too', () => {
  it('applies a changed failure mode on SIGHUP, shows the config hash in status, and counts the reload', async () => {
    const before = await consoleLine(join(dir, 'ctl.sock'), 'status');
    const hashBefore = /config hash: (\w+)/.exec(before)![1];
    writeFileSync(join(dir, 'moonwatch.yaml'), config(['failure_mode: { action: reject, code: 554, enhanced: 5.3.0, text: Policy broken }']));
    child.proc.kill('SIGHUP');
    await poll(async () => ((await rcpt('boom@example.test')).code === 554 ? true : undefined), 'new failure mode');
    const after = await consoleLine(join(dir, 'ctl.sock'), 'status');
    expect(/config hash: (\w+)/.exec(after)![1]).not.toBe(hashBefore);
    expect(after).toMatch(/^version: \d+\.\d+\.\d+/m);
    expect(after).toMatch(/^uptime: \d+s$/m);
    expect(after).toContain(`listen: 127.0.0.1:${smtpPort}`);
    expect(after).toMatch(/^sessions: accepted=\d+ open=\d+/m);
    expect(after).toMatch(/^verdicts: .*reject=\d+/m);
    expect(after).toMatch(/^config loaded: \d{4}-\d\d-\d\dT/m);
    // The counter moves when the reload call returns, a moment after the new generation went live.
    await poll(async () => (/^moonwatch_reloads_total\{result="ok"\} [1-9]/m.test((await httpGet(`http://127.0.0.1:${httpPort}/metrics`)).body) ? true : undefined), 'reload counted');
  });

  it('keeps the running config and scripts when the new config is bad, reports it in status, and a later good reload clears it', async () => {
    const good = readFileSync(join(dir, 'moonwatch.yaml'), 'utf8');
    writeFileSync(join(dir, 'moonwatch.yaml'), `${good}\nlimits: { max_erors: 3 }\n`);
    const out = await consoleLine(join(dir, 'ctl.sock'), 'reload').catch((e: Error) => e.message);
    expect(out).toMatch(/reload failed.*max_erors/);
    expect(await consoleLine(join(dir, 'ctl.sock'), 'status')).toMatch(/^last reload error: .*moonwatch\.yaml:\d+: limits.*max_erors/m);
    expect((await rcpt('boom@example.test')).code).toBe(554);
    // Restoring the previous content is a successful reload: the error goes.
    writeFileSync(join(dir, 'moonwatch.yaml'), good);
    expect(await consoleLine(join(dir, 'ctl.sock'), 'reload')).toMatch(/^OK generation \d+/);
    expect(await consoleLine(join(dir, 'ctl.sock'), 'status')).toMatch(/^last reload error: none$/m);
  });

  it('picks up a config file change by itself', async () => {
    const good = readFileSync(join(dir, 'moonwatch.yaml'), 'utf8').replace(/\nfailure_mode:.*\n?/, '\n');
    writeFileSync(join(dir, 'moonwatch.yaml'), `${good}\nfailure_mode: { action: tempfail, code: 452, enhanced: 4.3.0, text: Later }\n`);
    await poll(async () => ((await rcpt('boom@example.test')).code === 452 ? true : undefined), 'file-change reload').catch((err: Error) => {
      throw new Error(`${err.message}; recent log: ${child.lines.slice(-12).map((l) => `${String(l.msg)} ${String(l.reason ?? '')} ${String(l.err ?? '')}`).join(' | ')}`);
    });
    await child.waitFor((l) => l.msg === 'reload: config applied' && l.reason === 'config file change', 'config applied line');
  });

  it('applies limits, XCLIENT trust and the log level to new sessions', async () => {
    const xclient = async (): Promise<{ xclient: number; second: number }> => {
      const { client } = await RawSmtpClient.connect({ host: '127.0.0.1', port: smtpPort });
      await client.command('EHLO client.example');
      await client.command('MAIL FROM:<a@sender.example>');
      await client.command('RCPT TO:<one@example.test>');
      const second = (await client.command('RCPT TO:<two@example.test>')).code;
      await client.command('RSET');
      const x = (await client.command('XCLIENT NAME=relay.example')).code;
      await client.quit();
      return { xclient: x, second };
    };
    expect(await xclient()).toEqual({ xclient: 550, second: 250 });
    const before = readFileSync(join(dir, 'moonwatch.yaml'), 'utf8');
    writeFileSync(join(dir, 'moonwatch.yaml'), `${before}
limits: { max_recipients: 1 }
xclient: { trusted: ["127.0.0.1/32"] }
log: { level: debug }
`);
    child.proc.kill('SIGHUP');
    const changed = await poll(async () => {
      const r = await xclient();
      return r.xclient === 220 ? r : undefined;
    }, 'limits and trust applied');
    expect(changed.second).toBe(452);
    await child.waitFor((l) => l.level === 'debug', 'a debug line');
    writeFileSync(join(dir, 'moonwatch.yaml'), before);
    child.proc.kill('SIGHUP');
    await poll(async () => ((await xclient()).xclient === 550 ? true : undefined), 'back to the previous settings');
  });

  it('opens a new sink on reload: messages go to the maildir from then on', async () => {
    const send = async (): Promise<number> => {
      const { client } = await RawSmtpClient.connect({ host: '127.0.0.1', port: smtpPort });
      await client.command('EHLO client.example');
      await client.command('MAIL FROM:<a@sender.example>');
      await client.command('RCPT TO:<alice@example.test>');
      await client.command('DATA');
      const r = await client.command('Subject: sink test\r\n\r\nhello\r\n.');
      await client.quit();
      return r.code;
    };
    const before = readFileSync(join(dir, 'moonwatch.yaml'), 'utf8');
    writeFileSync(join(dir, 'moonwatch.yaml'), `${before}\nsink: { type: maildir, path: maildir }\n`);
    child.proc.kill('SIGHUP');
    await child.waitFor((l) => l.msg === 'reload: config applied' && l.reason === 'SIGHUP' && child.lines.indexOf(l) > child.lines.findIndex((x) => x.msg === 'reload: config applied' && x.reason === 'config file change'), 'sink reload');
    const stored = await poll(async () => {
      expect(await send()).toBe(250);
      const files = existsSync(join(dir, 'maildir', 'new')) ? readdirSync(join(dir, 'maildir', 'new')) : [];
      return files.length > 0 ? files : undefined;
    }, 'a message in the maildir');
    expect(readFileSync(join(dir, 'maildir', 'new', stored[0]!), 'utf8')).toContain('Subject: sink test');
    writeFileSync(join(dir, 'moonwatch.yaml'), before);
    child.proc.kill('SIGHUP');
  });

  it('refuses restart-only settings by name while the rest applies', async () => {
    const other = await freePort();
    const text = readFileSync(join(dir, 'moonwatch.yaml'), 'utf8').replace(`127.0.0.1:${smtpPort}`, `127.0.0.1:${other}`).replace('code: 452', 'code: 453');
    writeFileSync(join(dir, 'moonwatch.yaml'), text);
    const warn = await child.waitFor((l) => l.level === 'warn' && Array.isArray(l.settings) && (l.settings as string[]).includes('listen'), 'restart-only warning');
    expect(String(warn.msg)).toMatch(/^reload: listen changed in the config file but cannot change while serving/);
    await poll(async () => ((await rcpt('boom@example.test')).code === 453 ? true : undefined), 'rest applied');
    expect(await consoleLine(join(dir, 'ctl.sock'), 'status')).toMatch(/^config pending restart: listen$/m);
  });
});

describe('moonwatch console', () => {
  async function consoleRun(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await runConsole(argv, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env });
    return { code, out, err };
  }

  it('takes the command as one quoted string as well as separate words, finding the socket from the default config', async () => {
    const env = { MOONWATCH_CONFIG: join(dir, 'moonwatch.yaml') };
    const words = await consoleRun(['inbound_audit', 'show', 'ip', '127.0.0.1'], env);
    const quoted = await consoleRun(['inbound_audit show ip 127.0.0.1'], env);
    expect(words.code).toBe(0);
    expect(quoted.code).toBe(0);
    // This file's sessions: in the current minute's window, or an earlier one if a minute began since.
    expect(quoted.out).toMatch(/^Connections 60\/\d: [1-9]\d*$/m);
    expect(quoted.out.split('\n').length).toBe(words.out.split('\n').length);
  });

  it('says where it looked for the default config when there is none', async () => {
    const r = await consoleRun(['status'], { MOONWATCH_CONFIG: join(dir, 'missing.yaml') });
    expect(r.code).toBe(2);
    expect(r.err).toContain(`no default config at ${join(dir, 'missing.yaml')}`);
  });
});

/** Top-level keys of a JSON object text, in order, duplicates kept (JSON.parse keeps only the last). */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && text[j + 1] === ':') keys.push(text.slice(i + 1, j));
      i = j;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return keys;
}

describe('log fields', () => {
  it('no line the server wrote has the same key twice', () => {
    const dups = child.raw.flatMap((line) => {
      const keys = topLevelKeys(line);
      return keys.filter((k, i) => keys.indexOf(k) !== i).map((k) => `${k} in ${line.slice(0, 200)}`);
    });
    expect(child.raw.length).toBeGreaterThan(20);
    expect(dups).toEqual([]);
  });

  it('every line the server wrote names its fields one way: snake_case, no camelCase twin', () => {
    const camel = new Set<string>();
    for (const l of child.lines) for (const k of Object.keys(l)) if (/[A-Z]/.test(k)) camel.add(`${k} in "${String(l.msg)}"`);
    expect([...camel]).toEqual([]);
  });
});

describe('under a supervisor', () => {
  it('exits 0 promptly on SIGTERM after the log reader has gone', async () => {
    const d = mkdtempSync(join(tmpdir(), 'mw-pipe-'));
    try {
      mkdirSync(join(d, 'scripts'));
      writeFileSync(join(d, 'scripts', 'gate.lua'), gate('x'));
      const port = await freePort();
      writeFileSync(join(d, 'mw.yaml'), `listen: ["127.0.0.1:${port}"]\nscripts: { dir: scripts, modules: [gate], hot_reload: false }\nlog: { level: debug }\n`);
      const server = spawn(process.execPath, ['bin/moonwatch.js', 'serve', '--config', join(d, 'mw.yaml')], { stdio: ['ignore', 'pipe', 'ignore'] });
      // The reader takes one line and exits, as `| head -1` does.
      const reader = spawn('head', ['-n', '1'], { stdio: ['pipe', 'ignore', 'ignore'] });
      server.stdout!.pipe(reader.stdin!);
      reader.stdin!.on('error', () => undefined);
      const readerGone = new Promise((r) => reader.on('exit', r));
      const exit = new Promise<number | null>((r) => server.on('exit', (code) => r(code)));
      await readerGone;
      server.stdout!.unpipe();
      server.stdout!.destroy();
      await waitForPort(port, 20_000);
      // More log lines with nobody reading them.
      await rcpt2(port);
      server.kill('SIGTERM');
      expect(await exit).toBe(0);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

async function rcpt2(port: number): Promise<void> {
  const { client } = await RawSmtpClient.connect({ host: '127.0.0.1', port });
  await client.command('EHLO client.example');
  await client.quit();
}
