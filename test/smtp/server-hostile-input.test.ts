/**
 * Issue 16 (SMTP) and issue 15 (greeting delay), each with the exact hostile
 * input: message data pipelined before the 354, a DATA trickle below the
 * minimum rate, a stream of commands that never deliver mail, and a client
 * that talks before the greeting.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSmtpClient } from './lib/raw-client.ts';
import { ACCEPT_POLICY, MESSAGE } from './lib/policies.ts';
import { logged, startTestServer, type TestServer } from './lib/server-harness.ts';

let srv: TestServer;
let slow: TestServer;
let delayed: TestServer;
let bounded: TestServer;

beforeAll(async () => {
  [srv, slow, delayed, bounded] = await Promise.all([
    startTestServer({
      scripts: { accept: ACCEPT_POLICY },
      ipv4Only: true,
      yaml: 'sink: { type: maildir, path: maildir }\nlimits:\n  max_non_progressing_commands: 5',
    }),
    startTestServer({
      scripts: { accept: ACCEPT_POLICY },
      ipv4Only: true,
      // 400 ms to start with; each byte buys 1 ms; the trickle below sends 10 bytes every 50 ms.
      yaml: 'sink: { type: maildir, path: maildir }\nlimits:\n  command_timeout_ms: 400\n  min_data_rate: 1000\n  idle_timeout_ms: 60000',
    }),
    startTestServer({ scripts: { accept: ACCEPT_POLICY }, ipv4Only: true, yaml: 'limits:\n  greeting_delay_ms: 400' }),
    startTestServer({
      scripts: { accept: ACCEPT_POLICY },
      ipv4Only: true,
      // A rate any trickle below meets; the whole DATA still has 700 ms.
      yaml: 'limits:\n  command_timeout_ms: 400\n  data_timeout_ms: 700\n  min_data_rate: 10\n  idle_timeout_ms: 60000',
    }),
  ]);
});

afterAll(async () => {
  await Promise.all([srv.stop(), slow.stop(), delayed.stop(), bounded.stop()]);
});

function stored(s: TestServer): string[] {
  return readdirSync(join(s.dir, 'maildir', 'new'));
}

describe('message data before the 354 (RFC 2920)', () => {
  it('refuses DATA that arrives with the message in one packet, and stores nothing', async () => {
    const ip = '127.0.16.1';
    const { client } = await srv.connect({ localAddress: ip });
    expect((await client.command('EHLO pipeliner.example')).code).toBe(250);
    client.write('MAIL FROM:<a@sender.example>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nhello\r\n.\r\nQUIT\r\n');
    expect((await client.reply()).code).toBe(250);
    expect((await client.reply()).code).toBe(250);
    expect((await client.reply()).lines).toEqual(['554 5.5.0 Error: message data sent before the 354 reply']);
    await client.closed;
    await srv.settled();
    expect(stored(srv)).toEqual([]);
    expect(srv.count('receptions', ip)).toBe(0);
    expect(srv.count('rejections', ip)).toBe(1);
    expect(logged(srv.records, 'message data sent before the 354')).toHaveLength(1);
  });

  it('still takes a pipelined MAIL/RCPT/DATA group that waits for the 354', async () => {
    const ip = '127.0.16.2';
    const { client } = await srv.connect({ localAddress: ip });
    await client.command('EHLO pipeliner.example');
    client.write('MAIL FROM:<a@sender.example>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n');
    expect((await client.reply()).code).toBe(250);
    expect((await client.reply()).code).toBe(250);
    expect((await client.reply()).code).toBe(354);
    client.write(`${MESSAGE}.\r\n`);
    expect((await client.reply()).code).toBe(250);
    await client.quit();
    await srv.settled();
    expect(srv.count('receptions', ip)).toBe(1);
  });
});

describe('commands that never deliver mail', () => {
  it('closes with 421 after max_non_progressing_commands NOOP/RSET/HELP/VRFY/repeated EHLO, counted as a rejection', async () => {
    const ip = '127.0.16.3';
    const { client } = await srv.connect({ localAddress: ip });
    expect((await client.command('EHLO first.example')).code).toBe(250);
    expect((await client.command('NOOP')).code).toBe(250);
    expect((await client.command('RSET')).code).toBe(250);
    expect((await client.command('HELP')).code).toBe(214);
    expect((await client.command('VRFY alice')).code).toBe(252);
    expect((await client.command('EHLO again.example')).code).toBe(250);
    expect((await client.command('NOOP')).lines).toEqual(['421 4.7.0 mx.test.example Error: too many commands that do not deliver mail']);
    await client.closed;
    await srv.settled();
    expect(srv.count('rejections', ip)).toBe(1);
  });

  it('lets a client that delivers keep going: an accepted message resets the count', async () => {
    const ip = '127.0.16.4';
    const { client } = await srv.connect({ localAddress: ip });
    await client.command('EHLO busy.example');
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 4; i++) expect((await client.command('NOOP')).code).toBe(250);
      expect((await client.command('MAIL FROM:<a@sender.example>')).code).toBe(250);
      expect((await client.command('RCPT TO:<alice@example.test>')).code).toBe(250);
      expect((await client.data(MESSAGE)).final?.code).toBe(250);
    }
    await client.quit();
    await srv.settled();
    expect(srv.count('receptions', ip)).toBe(3);
    expect(srv.count('rejections', ip)).toBe(0);
  });
});

/** Starts DATA from `ip`, then sends 10 bytes every 50 ms until the server answers; returns that reply once the socket closed. */
async function trickleData(srv: TestServer, ip: string): Promise<string[]> {
  const { client } = await srv.connect({ localAddress: ip });
  await client.command('EHLO trickle.example');
  await client.command('MAIL FROM:<a@sender.example>');
  await client.command('RCPT TO:<alice@example.test>');
  expect((await client.command('DATA')).code).toBe(354);
  const trickle = setInterval(() => {
    if (!client.isClosed) client.write('xxxxxxxx\r\n');
  }, 50);
  try {
    const r = await client.reply();
    await client.closed;
    return r.lines;
  } finally {
    clearInterval(trickle);
  }
}

describe('minimum data rate', () => {
  it('ends a DATA trickle slower than min_data_rate with 421, counted, nothing stored', async () => {
    const ip = '127.0.16.5';
    // 10 bytes every 50 ms (200 B/s) against a 1000 B/s minimum: the deadline
    // falls behind by about 40 ms per chunk until it passes.
    expect(await trickleData(slow, ip)).toEqual(['421 4.4.2 mx.test.example Error: message data too slow']);
    await slow.settled();
    expect(stored(slow)).toEqual([]);
    expect(slow.count('rejections', ip)).toBe(1);
    expect(slow.count('receptions', ip)).toBe(0);
    expect(logged(slow.records, 'data below the minimum rate')).toHaveLength(1);
  });

  it('keeps data_timeout_ms as the bound on the whole message when the rate is met', async () => {
    const ip = '127.0.16.9';
    expect(await trickleData(bounded, ip)).toEqual(['421 4.4.2 mx.test.example Error: timeout exceeded']);
    await bounded.settled();
    // A timeout is not the client's fault in the counters' eyes.
    expect(bounded.count('rejections', ip)).toBe(0);
  });

  it('accepts a large message sent at full speed with the same limits', async () => {
    const ip = '127.0.16.6';
    const { client } = await slow.connect({ localAddress: ip });
    await client.command('EHLO fast.example');
    await client.command('MAIL FROM:<a@sender.example>');
    await client.command('RCPT TO:<alice@example.test>');
    const big = `Subject: big\r\n\r\n${'y'.repeat(998)}\r\n`.repeat(1);
    const body = big + `${'z'.repeat(76)}\r\n`.repeat(20_000);
    expect((await client.data(body)).final?.code).toBe(250);
    await client.quit();
    await slow.settled();
    expect(slow.count('receptions', ip)).toBe(1);
  });
});

describe('greeting delay', () => {
  it('refuses a client that talks before the delayed greeting', async () => {
    const ip = '127.0.16.7';
    const client = await RawSmtpClient.open({ host: '127.0.0.1', port: delayed.port4, localAddress: ip });
    client.write('EHLO early.example\r\n');
    const r = await client.reply();
    expect(r.lines).toEqual(['421 4.7.0 mx.test.example Error: you talk too soon']);
    await client.closed;
    await delayed.settled();
    expect(delayed.count('rejections', ip)).toBe(1);
  });

  it('greets a patient client after the delay', async () => {
    const { client, greeting } = await delayed.connect({ localAddress: '127.0.16.8' });
    expect(greeting.lines).toEqual(['220 mx.test.example ESMTP moonwatch']);
    expect((await client.command('EHLO patient.example')).code).toBe(250);
    await client.quit();
  });
});
