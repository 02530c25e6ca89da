import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monotonicMs } from '../../src/clock.ts';
import { MESSAGE, PHASE_POLICY } from './lib/policies.ts';
import { logged, startTestServer, type TestServer } from './lib/server-harness.ts';

let srv: TestServer;

beforeAll(async () => {
  srv = await startTestServer({ scripts: { phases: PHASE_POLICY } });
});

afterAll(async () => {
  await srv.stop();
});

async function session(opts: { v6?: boolean; localAddress?: string } = {}) {
  const { client, greeting } = await srv.connect(opts);
  expect(greeting.code).toBe(220);
  return client;
}

describe('each phase answers at its own time', () => {
  it('greets with hostname and banner when connect continues, on IPv4 and IPv6', async () => {
    for (const v6 of [false, true]) {
      const { client, greeting } = await srv.connect({ v6 });
      expect(greeting.lines).toEqual(['220 mx.test.example ESMTP moonwatch']);
      expect((await client.quit()).code).toBe(221);
    }
  });

  it('answers a connect rejection instead of the greeting and closes', async () => {
    const { client, greeting } = await srv.connect({ localAddress: '127.0.0.2' });
    expect(greeting.lines).toEqual(['554 5.7.1 Connections from 127.0.0.2 refused']);
    await client.closed;
  });

  it('answers a connect disconnect with its 421 and closes', async () => {
    const { client, greeting } = await srv.connect({ localAddress: '127.0.0.3' });
    expect(greeting.lines).toEqual(['421 4.7.0 Go away']);
    await client.closed;
  });

  it('rejects at EHLO without advertising capabilities, and MAIL then needs a good EHLO', async () => {
    const c = await session();
    expect((await c.command('EHLO bad.example')).lines).toEqual(['550 5.7.1 Bad HELO name']);
    expect((await c.command('MAIL FROM:<a@b.example>')).code).toBe(503);
    const ok = await c.command('EHLO good.example');
    expect(ok.code).toBe(250);
    expect(ok.lines).toContain('250-ENHANCEDSTATUSCODES');
    await c.quit();
  });

  it('rejects at HELO too', async () => {
    const c = await session();
    expect((await c.command('HELO bad.example')).lines).toEqual(['550 5.7.1 Bad HELO name']);
    expect((await c.command('HELO good.example')).lines).toEqual(['250 mx.test.example Hello [127.0.0.1]']);
    await c.quit();
  });

  it('disconnects at EHLO when the policy says so', async () => {
    const c = await session();
    expect((await c.command('EHLO bye.example')).lines).toEqual(['421 4.7.0 HELO says bye']);
    await c.closed;
  });

  it('rejects at MAIL FROM and keeps the session usable', async () => {
    const c = await session();
    await c.command('EHLO client.example');
    expect((await c.command('MAIL FROM:<spam@bad.example>')).lines).toEqual(['550 5.7.1 Sender blocked']);
    expect((await c.command('RCPT TO:<alice@example.test>')).code).toBe(503);
    expect((await c.command('MAIL FROM:<ok@good.example>')).lines).toEqual(['250 2.1.0 Accepted']);
    await c.quit();
  });

  it('sends a policy tempfail as one line even when the script put CR/LF in the text', async () => {
    const c = await session();
    await c.command('EHLO client.example');
    const r = await c.command('MAIL FROM:<later@slow.example>');
    expect(r.lines).toEqual(['451 4.7.1 Try later INJECTED: line']);
    // The next reply belongs to the next command: nothing was injected.
    expect((await c.command('NOOP')).lines).toEqual(['250 2.0.0 OK']);
    await c.quit();
  });

  it('uses a custom 2xx reply text from the policy', async () => {
    const c = await session();
    await c.command('EHLO client.example');
    expect((await c.command('MAIL FROM:<custom@ok.example>')).lines).toEqual(['250 2.1.0 Sender looks fine to us']);
    await c.quit();
  });

  it('rejects one RCPT and accepts the next in the same transaction', async () => {
    const c = await session();
    await c.command('EHLO client.example');
    await c.command('MAIL FROM:<a@sender.example>');
    expect((await c.command('RCPT TO:<nobody@example.test>')).lines).toEqual(['550 5.1.1 No such user']);
    expect((await c.command('RCPT TO:<alice@example.test>')).lines).toEqual(['250 2.1.5 Accepted']);
    const { final } = await c.data(MESSAGE);
    expect(final?.code).toBe(250);
    expect(final?.text).toMatch(/^Ok: queued as \S+$/);
    await c.quit();
  });

  it('closes after an RCPT reply that carries a disconnect', async () => {
    const c = await session({ v6: true });
    await c.command('EHLO client.example');
    await c.command('MAIL FROM:<a@sender.example>');
    expect((await c.command('RCPT TO:<kill@example.test>')).lines).toEqual(['550 5.7.1 Goodbye']);
    await c.closed;
  });

  it('rejects at the end of DATA', async () => {
    const c = await session();
    await c.command('EHLO client.example');
    await c.command('MAIL FROM:<a@sender.example>');
    await c.command('RCPT TO:<alice@example.test>');
    const { start, final } = await c.data('Subject: spam\r\n\r\nbuy now\r\n');
    expect(start.code).toBe(354);
    expect(final?.lines).toEqual(['554 5.7.1 Message looks like spam']);
    // A new transaction works after the rejected one.
    expect((await c.command('MAIL FROM:<a@sender.example>')).code).toBe(250);
    await c.quit();
  });

  it('turns a script error at DATA into the failure mode reply, and logs it', async () => {
    const c = await session();
    await c.command('EHLO client.example');
    await c.command('MAIL FROM:<a@sender.example>');
    await c.command('RCPT TO:<alice@example.test>');
    const { final } = await c.data('Subject: boom\r\n\r\nx\r\n');
    expect(final?.lines).toEqual(['451 4.3.0 Temporary policy failure, please try again later']);
    await c.quit();
    expect(srv.records.some((r) => typeof r.msg === 'string' && r.msg.includes('policy blew up'))).toBe(true);
  });

  it('logs one phase decision per phase with session, peer, verdict, generation and duration', async () => {
    const c = await session();
    await c.command('EHLO bad.example');
    await c.quit();
    const decision = logged(srv.records, 'phase decision').find((r) => r.phase === 'ehlo' && r.verdict === 'reject');
    expect(decision).toMatchObject({ peer: '127.0.0.1', generation: 1, code: 550 });
    expect(typeof decision?.session).toBe('string');
    expect(typeof decision?.duration_ms).toBe('number');
  });
});

describe('tarpits', () => {
  it('delays the greeting without blocking other sessions', async () => {
    const t0 = monotonicMs();
    const slow = srv.connect({ localAddress: '127.0.0.4' });
    // A session opened after the tarpitted one is greeted first.
    const fast = await srv.connect();
    const fastAt = monotonicMs() - t0;
    const { greeting } = await slow;
    const slowAt = monotonicMs() - t0;
    expect(greeting.code).toBe(220);
    expect(slowAt).toBeGreaterThanOrEqual(400);
    expect(fastAt).toBeLessThan(slowAt);
    await fast.client.quit();
  });

  it('delays the EHLO reply by the tarpit the policy set', async () => {
    const c = await session();
    const t0 = monotonicMs();
    const r = await c.command('EHLO slow.example');
    expect(r.code).toBe(250);
    expect(monotonicMs() - t0).toBeGreaterThanOrEqual(290);
    await c.quit();
  });
});
