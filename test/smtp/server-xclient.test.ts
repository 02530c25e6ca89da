import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monotonicMs } from '../../src/clock.ts';
import { MESSAGE, PHASE_POLICY } from './lib/policies.ts';
import { logged, startTestServer, type TestServer } from './lib/server-harness.ts';

let srv: TestServer;

beforeAll(async () => {
  srv = await startTestServer({
    scripts: { phases: PHASE_POLICY },
    yaml: 'xclient:\n  trusted: ["127.0.7.0/24", "::1"]\nsink: { type: maildir, path: maildir }',
  });
});

afterAll(async () => {
  await srv.stop();
});

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  const until = monotonicMs() + 3000;
  while (!cond()) {
    if (monotonicMs() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('XCLIENT', () => {
  it('is refused from a peer outside the trusted list, and not advertised to it', async () => {
    const ip = '127.0.0.1';
    const rejectionsBefore = srv.count('rejections', ip);
    const { client } = await srv.connect({ localAddress: ip });
    const ehlo = await client.command('EHLO client.example');
    expect(ehlo.lines.some((l) => l.includes('XCLIENT'))).toBe(false);
    const r = await client.command('XCLIENT ADDR=198.51.100.99');
    expect(r.code).toBe(550);
    // Nothing changed: the session is still the peer's own.
    expect(srv.count('connections', '198.51.100.99')).toBe(0);
    expect(srv.count('rejections', ip)).toBe(rejectionsBefore + 1);
    await client.quit();
  });

  it('ADDR starts the session over as a new connection from that address, as Postfix does', async () => {
    const proxy = '127.0.7.5';
    const { client } = await srv.connect({ localAddress: proxy });
    const ehlo = await client.command('EHLO proxy.example');
    expect(ehlo.lines.some((l) => /^250[ -]XCLIENT NAME ADDR/.test(l))).toBe(true);
    // A trusted proxy is not counted as itself while it only says EHLO/XCLIENT (issue 14).
    expect(srv.gauge(proxy)).toBe(0);
    const greeting = await client.command('XCLIENT ADDR=198.51.100.7 NAME=relay.example HELO=relay.example');
    expect(greeting.lines).toEqual(['220 mx.test.example ESMTP moonwatch']);
    // The posed client's session is counted and open; the proxy never had one.
    expect(srv.gauge(proxy)).toBe(0);
    expect(srv.count('connections', proxy)).toBe(0);
    expect(srv.count('connections', '198.51.100.7')).toBe(1);
    expect(srv.gauge('198.51.100.7')).toBe(1);
    const closed = logged(srv.records, 'session closed').filter((r) => r.peer === proxy);
    expect(closed).toEqual([]);

    // The client must greet again; then the transaction belongs to the new address.
    expect((await client.command('MAIL FROM:<a@sender.example>')).code).toBe(503);
    await client.command('EHLO relay.example');
    await client.command('MAIL FROM:<a@sender.example>');
    await client.command('RCPT TO:<alice@example.test>');
    expect((await client.data(MESSAGE)).final?.code).toBe(250);
    expect(srv.count('receptions', '198.51.100.7')).toBe(1);
    expect(srv.count('receptions', proxy)).toBe(0);
    // A second XCLIENT is not allowed once ADDR was given.
    expect((await client.command('XCLIENT ADDR=198.51.100.8')).code).toBe(550);
    await client.quit();
    await waitFor(() => srv.gauge('198.51.100.7') === 0, 'gauge to close');
    const files = readdirSync(join(srv.dir, 'maildir', 'new'));
    const stored = files.map((f) => readFileSync(join(srv.dir, 'maildir', 'new', f), 'latin1')).find((t) => t.includes('198.51.100.7'));
    expect(stored).toMatch(/^Received: from relay\.example \(\[198\.51\.100\.7\]\)\r\n\tby mx\.test\.example \(moonwatch\) with ESMTP/);
  });

  it('runs the connect phase for the new address and answers its verdict instead of the greeting', async () => {
    const { client } = await srv.connect({ localAddress: '127.0.7.6' });
    await client.command('EHLO proxy.example');
    const r = await client.command('XCLIENT ADDR=203.0.113.9');
    expect(r.lines).toEqual(['421 4.7.0 Go away']);
    await client.closed;
    await waitFor(() => srv.gauge('203.0.113.9') === 0, 'gauge to close');
    expect(srv.count('connections', '203.0.113.9')).toBe(1);
    expect(srv.count('rejections', '203.0.113.9')).toBe(1);
    expect(srv.count('rejections', '127.0.7.6')).toBe(0);
  });

  it('lets a trusted IPv6 peer pose as an IPv6 client', async () => {
    const { client } = await srv.connect({ v6: true });
    await client.command('EHLO proxy.example');
    const greeting = await client.command('XCLIENT ADDR=IPV6:2001:db8::5');
    expect(greeting.code).toBe(220);
    expect(srv.count('connections', '2001:db8::5')).toBe(1);
    expect(srv.gauge('2001:db8::5')).toBe(1);
    await client.quit();
    await waitFor(() => srv.gauge('2001:db8::5') === 0, 'gauge to close');
  });

  it('is refused inside a mail transaction and with malformed arguments', async () => {
    const { client } = await srv.connect({ localAddress: '127.0.7.7' });
    await client.command('EHLO proxy.example');
    expect((await client.command('XCLIENT ADDR=not-an-ip')).code).toBe(501);
    await client.command('MAIL FROM:<a@sender.example>');
    expect((await client.command('XCLIENT ADDR=198.51.100.20')).code).toBe(503);
    expect(srv.count('connections', '198.51.100.20')).toBe(0);
    await client.quit();
  });
});
