/**
 * The command and DATA deadlines share one timer per connection that is only
 * moved when a deadline comes earlier than it is due. These tests pin both
 * directions: a longer DATA deadline must not be cut short by the command
 * deadline armed before it, and a shorter one must not wait for the timer
 * armed for the longer command deadline.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monotonicMs } from '../../src/clock.ts';
import type { RawSmtpClient } from './lib/raw-client.ts';
import { ACCEPT_POLICY } from './lib/policies.ts';
import { logged, startTestServer, type TestServer } from './lib/server-harness.ts';

let longData: TestServer;
let shortData: TestServer;

beforeAll(async () => {
  // The idle timeout is far away in both: only the deadlines can fire.
  [longData, shortData] = await Promise.all([
    startTestServer({
      scripts: { accept: ACCEPT_POLICY },
      ipv4Only: true,
      yaml: 'limits:\n  idle_timeout_ms: 25000\n  command_timeout_ms: 1000\n  data_timeout_ms: 12000\n  # This test trickles on purpose: the minimum data rate is tested in server-hostile-input.test.ts.\n  min_data_rate: 0',
    }),
    startTestServer({
      scripts: { accept: ACCEPT_POLICY },
      ipv4Only: true,
      yaml: 'limits:\n  idle_timeout_ms: 25000\n  command_timeout_ms: 12000\n  data_timeout_ms: 300',
    }),
  ]);
});

afterAll(async () => {
  await Promise.all([longData.stop(), shortData.stop()]);
});

async function atData(srv: TestServer, ip: string): Promise<RawSmtpClient> {
  const { client } = await srv.connect({ localAddress: ip });
  expect((await client.command('EHLO client.example')).code).toBe(250);
  expect((await client.command('MAIL FROM:<a@sender.example>')).code).toBe(250);
  expect((await client.command('RCPT TO:<alice@example.test>')).code).toBe(250);
  expect((await client.command('DATA')).code).toBe(354);
  return client;
}

function closeReasons(srv: TestServer, peer: string): unknown[] {
  return logged(srv.records, 'connection closed')
    .filter((r) => r.peer === peer)
    .map((r) => r.reason);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('command and DATA deadlines on one timer', () => {
  it('gives DATA its longer deadline, then holds the next command to the shorter one again', async () => {
    const ip = '127.0.12.1';
    const c = await atData(longData, ip);
    // 1.4 s or more of trickled message: past the 1000 ms command deadline, far
    // inside the 12 s DATA one (the pauses are the client's behaviour under test).
    for (const part of ['Subject: slow\r\n', '\r\n', 'one\r\n', 'two\r\n', 'three\r\n', 'four\r\n', 'five\r\n']) {
      c.write(part);
      await sleep(200);
    }
    const t0 = monotonicMs();
    c.write('.\r\n');
    const accepted = await c.reply();
    expect(accepted.code).toBe(250);
    // Now silent: the command deadline (1 s), not the DATA one (due ~10.6 s from now), ends
    // the session. The upper bound only separates the two deadlines, with seconds to spare.
    const r = await c.reply();
    const waited = monotonicMs() - t0;
    expect(r.lines).toEqual(['421 4.4.2 mx.test.example Error: timeout exceeded']);
    expect(waited).toBeGreaterThanOrEqual(950);
    expect(waited).toBeLessThan(8000);
    await c.closed;
    await longData.settled();
    expect(closeReasons(longData, ip)).toEqual(['timeout']);
    expect(longData.count('receptions', ip)).toBe(1);
  });

  it('fires a DATA deadline shorter than the command deadline on time', async () => {
    const ip = '127.0.12.2';
    const c = await atData(shortData, ip);
    const t0 = monotonicMs();
    c.write('Subject: stalled\r\n\r\n');
    const r = await c.reply();
    const waited = monotonicMs() - t0;
    expect(r.code).toBe(421);
    expect(r.enhanced).toBe('4.4.2');
    expect(waited).toBeGreaterThanOrEqual(250);
    // The timer armed at the greeting was due after 12 s: it must have been moved.
    expect(waited).toBeLessThan(9000);
    await c.closed;
    await shortData.settled();
    expect(closeReasons(shortData, ip)).toEqual(['timeout']);
    expect(shortData.count('receptions', ip)).toBe(0);
    expect(shortData.count('rejections', ip)).toBe(0);
  });

  it('keeps a session that answers within each deadline open across many commands', async () => {
    const ip = '127.0.12.3';
    const { client } = await longData.connect({ localAddress: ip });
    // 8 × 250 ms = 2 s in all, twice the 1 s command deadline, but each command is on time
    // (the pauses are the client's behaviour under test).
    for (let i = 0; i < 8; i++) {
      await sleep(250);
      expect((await client.command('NOOP')).code).toBe(250);
    }
    expect((await client.quit()).code).toBe(221);
    await longData.settled();
    expect(closeReasons(longData, ip)).toEqual(['quit']);
  });
});
