import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monotonicMs } from '../../src/clock.ts';
import type { RawSmtpClient } from './lib/raw-client.ts';
import { ACCEPT_POLICY } from './lib/policies.ts';
import { startTestServer, type TestServer } from './lib/server-harness.ts';
import { waitUntil } from '../helpers/wait.ts';

let srv: TestServer;

beforeAll(async () => {
  srv = await startTestServer({
    scripts: { accept: ACCEPT_POLICY },
    ipv4Only: true,
    yaml: [
      'sink: { type: maildir, path: maildir }',
      'limits:',
      '  max_message_bytes: 2048',
      '  max_line_length: 600',
      '  max_recipients: 2',
      '  max_errors: 3',
    ].join('\n'),
  });
});

afterAll(async () => {
  await srv.stop();
});

function stored(): string[] {
  return readdirSync(join(srv.dir, 'maildir', 'new'));
}

async function inTransaction(ip: string): Promise<RawSmtpClient> {
  const { client } = await srv.connect({ localAddress: ip });
  await client.command('EHLO client.example');
  expect((await client.command('MAIL FROM:<a@sender.example>')).code).toBe(250);
  expect((await client.command('RCPT TO:<alice@example.test>')).code).toBe(250);
  return client;
}

describe('limits enforced during DATA', () => {
  it('refuses a message over max_message_bytes with 552 5.3.4 and stores nothing', async () => {
    const ip = '127.0.3.1';
    const before = stored().length;
    const c = await inTransaction(ip);
    const big = `Subject: big\r\n\r\n${'x'.repeat(70)}\r\n`.repeat(40);
    const { final } = await c.data(big);
    expect(final?.code).toBe(552);
    expect(final?.enhanced).toBe('5.3.4');
    expect(stored().length).toBe(before);
    // The session stays in sync: the next command gets its own reply.
    expect((await c.command('NOOP')).code).toBe(250);
    await c.quit();
    expect(srv.count('rejections', ip)).toBe(1);
    expect(srv.count('receptions', ip)).toBe(0);
  });

  it('refuses a line longer than max_line_length', async () => {
    const c = await inTransaction('127.0.3.2');
    const { final } = await c.data(`Subject: long\r\n\r\n${'y'.repeat(650)}\r\n`);
    expect(final?.code).toBe(550);
    expect(final?.enhanced).toBe('5.6.0');
    await c.quit();
  });

  it('accepts a message at the limits and stores it', async () => {
    const before = stored().length;
    const c = await inTransaction('127.0.3.3');
    const { final } = await c.data(`Subject: fits\r\n\r\n${'z'.repeat(596)}\r\n`);
    expect(final?.code).toBe(250);
    expect(stored().length).toBe(before + 1);
    await c.quit();
  });

  it('answers SIZE= over the limit at MAIL FROM', async () => {
    const { client } = await srv.connect({ localAddress: '127.0.3.4' });
    await client.command('EHLO client.example');
    expect((await client.command('MAIL FROM:<a@sender.example> SIZE=999999')).code).toBe(552);
    await client.quit();
  });

  it('caps recipients per message with 452', async () => {
    const c = await inTransaction('127.0.3.5');
    expect((await c.command('RCPT TO:<bob@example.test>')).code).toBe(250);
    const r = await c.command('RCPT TO:<carol@example.test>');
    expect(r.code).toBe(452);
    await c.quit();
  });
});

describe('smuggling', () => {
  it('does not end DATA at <LF>.<CR><LF>: the smuggled commands never run and the message is refused', async () => {
    const ip = '127.0.4.1';
    const before = stored().length;
    const c = await inTransaction(ip);
    expect((await c.command('DATA')).code).toBe(354);
    c.write(
      'Subject: smuggle\r\n\r\nhello\n.\r\nMAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\nsmuggled\r\n.\r\n',
    );
    const r = await c.reply();
    expect(r.code).toBe(550);
    expect(r.enhanced).toBe('5.5.2');
    // Exactly one reply for the whole thing: the next one answers our NOOP.
    expect((await c.command('NOOP')).lines).toEqual(['250 2.0.0 OK']);
    await c.quit();
    expect(stored().length).toBe(before);
  });

  it('refuses <CR>.<CR> and other bare CRs in the message', async () => {
    const c = await inTransaction('127.0.4.2');
    expect((await c.command('DATA')).code).toBe(354);
    c.write('Subject: cr\r\n\r\nhello\r.\rMAIL FROM:<evil@attacker.example>\r\n.\r\n');
    const r = await c.reply();
    expect(r.code).toBe(550);
    expect(r.text).toContain('bare <CR>');
    await c.quit();
  });

  it('ends the session on a command line terminated by a bare LF', async () => {
    const ip = '127.0.4.3';
    const { client } = await srv.connect({ localAddress: ip });
    client.write('EHLO client.example\nMAIL FROM:<a@b.example>\r\n');
    const r = await client.reply();
    expect(r.lines).toEqual(['521 5.5.2 mx.test.example Error: bare <LF> received']);
    await client.closed;
    expect(srv.count('rejections', ip)).toBe(1);
  });

  it('does not offer STARTTLS (so there is no plaintext-injection window) nor AUTH', async () => {
    const { client } = await srv.connect({ localAddress: '127.0.4.5' });
    const ehlo = await client.command('EHLO client.example');
    expect(ehlo.lines.some((l) => /STARTTLS|AUTH/.test(l))).toBe(false);
    // Commands pipelined behind a refused STARTTLS are ordinary commands, answered in order.
    client.write('STARTTLS\r\nNOOP\r\n');
    expect((await client.reply()).code).toBe(500);
    expect((await client.reply()).lines).toEqual(['250 2.0.0 OK']);
    await client.quit();
  });

  it('answers an over-long command line with 421 and closes', async () => {
    const { client } = await srv.connect({ localAddress: '127.0.4.4' });
    const r = await client.command(`EHLO ${'a'.repeat(700)}`);
    expect(r.code).toBe(421);
    await client.closed;
  });
});

describe('errors', () => {
  it('closes the session with 421 after max_errors error replies, counting each one', async () => {
    const ip = '127.0.5.1';
    const { client } = await srv.connect({ localAddress: ip });
    expect((await client.command('BOGUS1')).code).toBe(500);
    expect((await client.command('BOGUS2')).code).toBe(500);
    expect((await client.command('BOGUS3')).code).toBe(500);
    const bye = await client.reply();
    expect(bye.lines).toEqual(['421 4.7.0 mx.test.example Error: too many errors']);
    await client.closed;
    expect(srv.count('rejections', ip)).toBe(4);
  });
});

describe('connection caps', () => {
  it('refuses over the per-IP and total caps while tarpitted sessions hold their slots', async () => {
    const capped = await startTestServer({
      ipv4Only: true,
      scripts: {
        slow: `
require("msys.core")
require("msys.extended.vctx")
local t = {}
function t:validate_connect(ac, vctx)
  if string.sub(msys.expandMacro("%{i}"), 1, 10) == "127.0.6.1" then vctx:tarpit(0.8) end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("slow", t)`,
      },
      yaml: 'limits:\n  max_connections: 3\n  max_connections_per_ip: 2',
    });
    try {
      const t0 = monotonicMs();
      // Two tarpitted sessions from 127.0.6.1 and one from 127.0.6.10, none greeted yet.
      const held = [
        capped.connect({ localAddress: '127.0.6.1' }),
        capped.connect({ localAddress: '127.0.6.1' }),
        capped.connect({ localAddress: '127.0.6.10' }),
      ];
      await waitUntil(() => capped.listener.stats().open === 3, 'three sockets open');
      // Total cap: three sockets are open, whoever asks next is refused.
      const total = await capped.connect({ localAddress: '127.0.6.2' });
      expect(total.greeting.lines).toEqual(['421 4.7.0 mx.test.example Too many connections, try again later']);
      await total.client.closed;
      expect(capped.listener.stats().refusedByCaps).toBe(1);
      // Refused before any session was opened: not counted as a connection.
      expect(capped.count('connections', '127.0.6.2')).toBe(0);
      const sessions = await Promise.all(held);
      expect(monotonicMs() - t0).toBeGreaterThanOrEqual(750);
      for (const s of sessions) expect(s.greeting.code).toBe(220);
      // Per-IP cap: with a slot free overall, a third session from the same IP is still refused.
      await sessions[2]!.client.quit();
      await waitUntil(() => capped.listener.stats().open === 2, 'the quit socket to close');
      const third = await capped.connect({ localAddress: '127.0.6.1' });
      expect(third.greeting.lines[0]).toMatch(/^421 4\.7\.0 .*from your address/);
      await Promise.all(sessions.slice(0, 2).map((s) => s.client.quit()));
      await capped.settled();
      const again = await capped.connect({ localAddress: '127.0.6.1' });
      expect(again.greeting.code).toBe(220);
      await again.client.quit();
    } finally {
      await capped.stop();
    }
  });
});

