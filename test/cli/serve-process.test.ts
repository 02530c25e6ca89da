/**
 * The real CLI as a child process: `node bin/moonwatch.js serve --config …`,
 * driven by signals the way an init system drives it.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSmtpClient } from '../smtp/lib/raw-client.ts';
import { startCli, type CliChild } from '../helpers/cli-process.ts';

const policy = (version: number) => `
require("msys.core")
require("msys.audit")
require("msys.extended.vctx")
local g = {}
function g:validate_connect(ac, vctx)
  if msys.audit.connections("60,10") > 500 then
    vctx:disconnect(421, "4.7.0 too many")
    return msys.core.VALIDATE_DONE
  end
  return msys.core.VALIDATE_CONT
end
function g:validate_rcptto(msg, rcpt, ac, vctx)
  if tostring(rcpt) == "nobody@example.test" then
    vctx:set_code(550, "5.1.1 No such user (v${version})")
    return msys.core.VALIDATE_DONE
  end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("gate", g)
`;

let dir: string;
let child: CliChild;
let port: number;
let port6: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mw-serve-'));
  mkdirSync(join(dir, 'scripts'));
  writeFileSync(join(dir, 'scripts', 'gate.lua'), policy(1));
  copyFileSync('test/smtp/tls/a.key', join(dir, 'tls.key'));
  copyFileSync('test/smtp/tls/a.crt', join(dir, 'tls.crt'));
  writeFileSync(
    join(dir, 'moonwatch.yaml'),
    [
      'listen: ["127.0.0.1:0", "[::1]:0"]',
      'hostname: mx.test.example',
      'inbound_audit: { monitors: ["60,10"] }',
      'scripts: { dir: scripts, modules: [gate], hot_reload: false }',
      'sink: { type: maildir, path: maildir }',
      'limits: { shutdown_grace_ms: 8000 }',
      'tls: { key: tls.key, cert: tls.crt }',
    ].join('\n'),
  );
  child = startCli(['serve', '--config', join(dir, 'moonwatch.yaml')]);
  const serving = await child.waitFor((l) => l.msg === 'moonwatch serving', 'moonwatch serving');
  const listen = serving.listen as string[];
  expect(listen).toHaveLength(2);
  port = Number(/:(\d+)$/.exec(listen[0]!)![1]);
  port6 = Number(/:(\d+)$/.exec(listen[1]!)![1]);
}, 30_000);

afterAll(() => {
  if (child.proc.exitCode === null) child.proc.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function openTransaction(i: number): Promise<RawSmtpClient> {
  const { client, greeting } = await RawSmtpClient.connect({ host: '127.0.0.1', port, localAddress: `127.0.10.${i + 1}` });
  expect(greeting.code).toBe(220);
  await client.command('EHLO inflight.example');
  expect((await client.command('MAIL FROM:<a@sender.example>')).code).toBe(250);
  expect((await client.command('RCPT TO:<alice@example.test>')).code).toBe(250);
  expect((await client.command('DATA')).code).toBe(354);
  // Half the message: the rest arrives after SIGTERM.
  client.write(`Subject: in flight ${i}\r\n\r\nfirst half\r\n`);
  return client;
}

describe('moonwatch serve as a process', () => {
  it('SIGHUP rebuilds the script generation, like a file change', async () => {
    const { client } = await RawSmtpClient.connect({ host: '127.0.0.1', port });
    await client.command('EHLO a.example');
    await client.command('MAIL FROM:<a@sender.example>');
    expect((await client.command('RCPT TO:<nobody@example.test>')).text).toBe('No such user (v1)');
    await client.quit();

    writeFileSync(join(dir, 'scripts', 'gate.lua'), policy(2));
    child.proc.kill('SIGHUP');
    const reloaded = await child.waitFor((l) => l.msg === 'reload: new script generation live', 'reload line');
    expect(reloaded).toMatchObject({ reason: 'SIGHUP', generation: 2, previous: 1 });

    const again = await RawSmtpClient.connect({ host: '::1', port: port6 });
    await again.client.command('EHLO a.example');
    await again.client.command('MAIL FROM:<a@sender.example>');
    expect((await again.client.command('RCPT TO:<nobody@example.test>')).text).toBe('No such user (v2)');
    await again.client.quit();
  });

  it('SIGHUP re-reads the STARTTLS certificate; a broken pair keeps the one being served', async () => {
    const served = async (): Promise<string> => {
      const { client } = await RawSmtpClient.connect({ host: '127.0.0.1', port });
      await client.command('EHLO a.example');
      expect((await client.command('STARTTLS')).code).toBe(220);
      const secure = await client.startTls();
      const cn = secure.tls.getPeerCertificate().subject.CN as string;
      await secure.client.quit();
      return cn;
    };
    expect(await served()).toBe('mx-a.example.test');

    copyFileSync('test/smtp/tls/b.key', join(dir, 'tls.key'));
    copyFileSync('test/smtp/tls/b.crt', join(dir, 'tls.crt'));
    child.proc.kill('SIGHUP');
    await child.waitFor((l) => l.msg === 'tls certificate reloaded', 'tls reload line');
    expect(await served()).toBe('mx-b.example.test');

    // A renewal caught half-written: the key no longer goes with the certificate.
    copyFileSync('test/smtp/tls/a.key', join(dir, 'tls.key'));
    child.proc.kill('SIGHUP');
    const refused = await child.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('tls not reloaded'), 'tls refusal line');
    expect(refused).toMatchObject({ level: 'error', setting: 'tls.cert' });
    expect(await served()).toBe('mx-b.example.test');
    copyFileSync('test/smtp/tls/a.crt', join(dir, 'tls.crt')); // a good pair again, for the tests that restart
  });

  it('SIGTERM with sessions in flight loses nothing, refuses new work and exits 0', async () => {
    const inflight = await Promise.all(Array.from({ length: 8 }, (_, i) => openTransaction(i)));
    const idle = await RawSmtpClient.connect({ host: '127.0.0.1', port, localAddress: '127.0.10.100' });
    await idle.client.command('EHLO idle.example');

    child.proc.kill('SIGTERM');
    await child.waitFor((l) => l.msg === 'shutting down: no new connections', 'shutdown start');

    // Between transactions there is nothing to finish: the idle session is told at once.
    const bye = await idle.client.reply();
    expect(bye.lines).toEqual(['421 4.3.2 mx.test.example Service shutting down, try again later']);
    await idle.client.closed;

    // The listener no longer accepts.
    await expect(
      new Promise((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port });
        s.once('connect', () => {
          s.destroy();
          resolve('connected');
        });
        s.once('error', reject);
      }),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    // Every message in flight is completed, stored and acknowledged.
    const finals = await Promise.all(
      inflight.map(async (c) => {
        c.write('second half\r\n.\r\n');
        const final = await c.reply();
        // A new transaction is not started during shutdown…
        const next = await c.command('MAIL FROM:<b@sender.example>');
        await c.closed;
        return { final: final.code, next: next.code };
      }),
    );
    expect(finals.every((f) => f.final === 250 && f.next === 421)).toBe(true);

    expect(await child.exit).toBe(0);
    expect(readdirSync(join(dir, 'maildir', 'new'))).toHaveLength(8);
    expect(child.lines.some((l) => l.msg === 'moonwatch stopped')).toBe(true);
    const closed = child.lines.filter((l) => l.msg === 'connection closed');
    expect(closed.filter((l) => l.reason === 'shutdown')).toHaveLength(9);
    // The line as written: its fields in order, an absent field left out (not null, not "proxy").
    for (const l of closed) {
      const fields = Object.keys(l).filter((k) => ['session', 'proxy', 'peer', 'reason', 'messages', 'queue_id', 'duration_ms'].includes(k));
      expect(fields).toEqual(['session', 'peer', 'reason', 'messages', ...(Number(l.messages) > 0 ? ['queue_id'] : []), 'duration_ms']);
    }
    expect(closed.some((l) => Number(l.messages) > 0)).toBe(true);
    expect(closed.some((l) => l.messages === 0)).toBe(true);
    const summary = child.lines.find((l) => l.msg === 'all sessions closed');
    expect(summary).toMatchObject({ open_sessions: 0 });
  });

  it('SIGINT stops it the same way (exit 0)', async () => {
    const second = startCli(['serve', '--config', join(dir, 'moonwatch.yaml')]);
    try {
      const serving = await second.waitFor((l) => l.msg === 'moonwatch serving', 'moonwatch serving');
      const p = Number(/:(\d+)$/.exec((serving.listen as string[])[0]!)![1]);
      const { client } = await RawSmtpClient.connect({ host: '127.0.0.1', port: p });
      second.proc.kill('SIGINT');
      expect((await client.reply()).code).toBe(421);
      expect(await second.exit).toBe(0);
      expect(second.lines.find((l) => l.msg === 'shutting down')).toMatchObject({ signal: 'SIGINT' });
    } finally {
      if (second.proc.exitCode === null) second.proc.kill('SIGKILL');
    }
  });
});
