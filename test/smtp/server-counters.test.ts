import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monotonicMs } from '../../src/clock.ts';
import { MESSAGE, PHASE_POLICY } from './lib/policies.ts';
import { logged, startTestServer, type TestServer } from './lib/server-harness.ts';

let srv: TestServer;
let slow: TestServer;

beforeAll(async () => {
  srv = await startTestServer({ scripts: { phases: PHASE_POLICY } });
  slow = await startTestServer({
    scripts: { phases: PHASE_POLICY },
    ipv4Only: true,
    yaml: 'limits:\n  idle_timeout_ms: 400\n  command_timeout_ms: 900\n  data_timeout_ms: 900',
  });
});

afterAll(async () => {
  await srv.stop();
  await slow.stop();
});

async function waitFor(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const until = monotonicMs() + timeoutMs;
  while (!cond()) {
    if (monotonicMs() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function counters(s: TestServer, cidr: string) {
  return {
    connections: s.count('connections', cidr),
    receptions: s.count('receptions', cidr),
    rejections: s.count('rejections', cidr),
    gauge: s.gauge(cidr),
  };
}

function closeReasons(s: TestServer, peer: string): unknown[] {
  return logged(s.records, 'connection closed')
    .filter((r) => r.peer === peer)
    .map((r) => r.reason);
}

describe('counters and gauges after each way a session ends', () => {
  it('QUIT after a delivered message: one connection, one reception per recipient, gauge back to 0', async () => {
    const ip = '127.0.1.1';
    const { client } = await srv.connect({ localAddress: ip });
    expect(counters(srv, ip)).toEqual({ connections: 1, receptions: 0, rejections: 0, gauge: 1 });
    await client.command('EHLO client.example');
    await client.command('MAIL FROM:<a@sender.example>');
    await client.command('RCPT TO:<alice@example.test>');
    await client.command('RCPT TO:<bob@example.test>');
    expect((await client.data(MESSAGE)).final?.code).toBe(250);
    expect(counters(srv, ip)).toEqual({ connections: 1, receptions: 2, rejections: 0, gauge: 1 });
    await client.quit();
    await waitFor(() => srv.gauge(ip) === 0, 'gauge to close');
    expect(counters(srv, ip)).toEqual({ connections: 1, receptions: 2, rejections: 0, gauge: 0 });
    expect(closeReasons(srv, ip)).toEqual(['quit']);
  });

  it('421 disconnect at connect: the connection and the rejection are counted, the gauge closes', async () => {
    const ip = '127.0.0.3';
    const before = counters(srv, ip);
    const { client, greeting } = await srv.connect({ localAddress: ip });
    expect(greeting.code).toBe(421);
    await client.closed;
    await waitFor(() => srv.gauge(ip) === 0, 'gauge to close');
    expect(counters(srv, ip)).toEqual({
      connections: before.connections + 1,
      receptions: before.receptions,
      rejections: before.rejections + 1,
      gauge: 0,
    });
    expect(closeReasons(srv, ip).at(-1)).toBe('disconnect');
  });

  it('a rejected RCPT and a 550 disconnect count one rejection each, protocol errors count too', async () => {
    const ip = '127.0.1.2';
    const { client } = await srv.connect({ localAddress: ip });
    await client.command('EHLO client.example');
    expect((await client.command('BOGUS')).code).toBe(500);
    await client.command('MAIL FROM:<a@sender.example>');
    expect((await client.command('RCPT TO:<nobody@example.test>')).code).toBe(550);
    expect((await client.command('RCPT TO:<kill@example.test>')).code).toBe(550);
    await client.closed;
    await waitFor(() => srv.gauge(ip) === 0, 'gauge to close');
    expect(counters(srv, ip)).toEqual({ connections: 1, receptions: 0, rejections: 3, gauge: 0 });
    expect(closeReasons(srv, ip)).toEqual(['disconnect']);
  });

  it('RST in the middle of a transaction: nothing received, nothing rejected, gauge closed', async () => {
    const ip = '127.0.1.4';
    const { client } = await srv.connect({ localAddress: ip });
    await client.command('EHLO client.example');
    await client.command('MAIL FROM:<a@sender.example>');
    await client.command('RCPT TO:<alice@example.test>');
    expect((await client.command('DATA')).code).toBe(354);
    client.write('Subject: half\r\n\r\nthis message never ends');
    await new Promise((r) => setTimeout(r, 50));
    client.reset();
    await waitFor(() => srv.gauge(ip) === 0, 'gauge to close');
    expect(counters(srv, ip)).toEqual({ connections: 1, receptions: 0, rejections: 0, gauge: 0 });
    expect(closeReasons(srv, ip)).toEqual(['reset']);
  });

  it('the same accounting holds on IPv6', async () => {
    const before = counters(srv, '::1');
    const { client } = await srv.connect({ v6: true });
    expect(srv.gauge('::1')).toBe(before.gauge + 1);
    await client.command('EHLO client.example');
    await client.command('MAIL FROM:<a@sender.example>');
    expect((await client.command('RCPT TO:<nobody@example.test>')).code).toBe(550);
    await client.command('RCPT TO:<alice@example.test>');
    expect((await client.data(MESSAGE)).final?.code).toBe(250);
    await client.quit();
    await waitFor(() => srv.gauge('::1') === before.gauge, 'gauge to close');
    expect(counters(srv, '::1')).toEqual({
      connections: before.connections + 1,
      receptions: before.receptions + 1,
      rejections: before.rejections + 1,
      gauge: before.gauge,
    });
    // RST over IPv6
    const second = await srv.connect({ v6: true });
    await second.client.command('EHLO client.example');
    second.client.reset();
    await waitFor(() => srv.gauge('::1') === before.gauge, 'gauge to close after RST');
    expect(srv.count('connections', '::1')).toBe(before.connections + 2);
    expect(srv.count('rejections', '::1')).toBe(before.rejections + 1);
  });
});

describe('timeouts', () => {
  it('an idle client gets 421 4.4.2 and is closed; the timeout is not counted as a rejection', async () => {
    const ip = '127.0.1.5';
    const { client } = await slow.connect({ localAddress: ip });
    await client.command('EHLO client.example');
    const t0 = monotonicMs();
    const r = await client.reply();
    expect(r.lines).toEqual(['421 4.4.2 mx.test.example Error: timeout exceeded']);
    expect(monotonicMs() - t0).toBeGreaterThanOrEqual(300);
    await client.closed;
    await waitFor(() => slow.gauge(ip) === 0, 'gauge to close');
    expect(counters(slow, ip)).toEqual({ connections: 1, receptions: 0, rejections: 0, gauge: 0 });
    expect(closeReasons(slow, ip)).toEqual(['timeout']);
  });

  it('does not time out a client that waits for a tarpitted greeting longer than the idle timeout', async () => {
    const t0 = monotonicMs();
    const { client, greeting } = await slow.connect({ localAddress: '127.0.0.5' });
    expect(greeting.code).toBe(220);
    expect(monotonicMs() - t0).toBeGreaterThanOrEqual(650);
    await client.quit();
  });

  it('a client trickling one byte at a time still hits the command deadline', async () => {
    const ip = '127.0.1.6';
    const { client } = await slow.connect({ localAddress: ip });
    const t0 = monotonicMs();
    const trickle = setInterval(() => {
      if (!client.isClosed) client.write('N');
    }, 100);
    try {
      const r = await client.reply();
      expect(r.code).toBe(421);
      expect(r.enhanced).toBe('4.4.2');
      // Each byte resets the 400 ms idle timer; only the 900 ms command deadline can fire.
      expect(monotonicMs() - t0).toBeGreaterThanOrEqual(800);
    } finally {
      clearInterval(trickle);
    }
    await client.closed;
    await waitFor(() => slow.gauge(ip) === 0, 'gauge to close');
    expect(closeReasons(slow, ip)).toEqual(['timeout']);
  });
});
