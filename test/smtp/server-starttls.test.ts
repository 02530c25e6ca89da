import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MESSAGE, PHASE_POLICY } from './lib/policies.ts';
import { logged, startTestServer, type TestServer } from './lib/server-harness.ts';

const TLS_DIR = resolve('test/smtp/tls');
const TLS_YAML = `tls: { key: ${join(TLS_DIR, 'a.key')}, cert: ${join(TLS_DIR, 'a.crt')} }\nsink: { type: maildir, path: maildir }`;

let srv: TestServer;
let plain: TestServer;

beforeAll(async () => {
  srv = await startTestServer({ scripts: { phases: PHASE_POLICY }, yaml: TLS_YAML, ipv4Only: true });
  plain = await startTestServer({ scripts: { phases: PHASE_POLICY }, ipv4Only: true });
});

afterAll(async () => {
  await srv.stop();
  await plain.stop();
});

describe('STARTTLS', () => {
  it('is offered only when the config has a key and certificate', async () => {
    const { client } = await plain.connect({ localAddress: '127.0.9.1' });
    const ehlo = await client.command('EHLO client.example');
    expect(ehlo.lines.some((l) => l.includes('STARTTLS'))).toBe(false);
    expect((await client.command('STARTTLS')).code).toBeGreaterThanOrEqual(500);
    await client.quit();

    const { client: c2 } = await srv.connect({ localAddress: '127.0.9.2' });
    const ehlo2 = await c2.command('EHLO client.example');
    expect(ehlo2.lines).toContain('250-STARTTLS');
    await c2.quit();
  });

  it('runs a whole session over TLS: EHLO again, every phase, counters and gauge exact', async () => {
    const ip = '127.0.9.3';
    const { client: clear } = await srv.connect({ localAddress: ip });
    await clear.command('EHLO client.example');
    expect((await clear.command('STARTTLS')).code).toBe(220);
    const { client, tls } = await clear.startTls();
    expect(tls.getPeerCertificate().subject.CN).toBe('mx-a.example.test');
    // RFC 3207 §4.2: the EHLO from before TLS no longer counts.
    expect((await client.command('MAIL FROM:<a@sender.example>')).code).toBe(503);
    expect((await client.command('EHLO bad.example')).code).toBe(550); // the ehlo phase runs again
    expect((await client.command('EHLO client.example')).code).toBe(250);
    expect((await client.command('MAIL FROM:<a@sender.example>')).code).toBe(250);
    expect((await client.command('RCPT TO:<alice@example.test>')).code).toBe(250);
    expect((await client.data(MESSAGE)).final?.code).toBe(250);
    expect(srv.gauge(ip)).toBe(1);
    expect((await client.quit()).code).toBe(221);
    await srv.settled();
    expect(srv.gauge(ip)).toBe(0);
    expect(srv.count('connections', ip)).toBe(1);
    expect(srv.count('receptions', ip)).toBe(1);
    expect(srv.count('rejections', ip)).toBe(2); // the 503 and the 550
    expect(logged(srv.records, 'tls established').filter((r) => r.peer === ip)).toHaveLength(1);
    const stored = readdirSync(join(srv.dir, 'maildir', 'new'))
      .map((f) => readFileSync(join(srv.dir, 'maildir', 'new', f), 'latin1'))
      .find((t) => t.includes(`[${ip}]`));
    expect(stored).toMatch(/ with ESMTPS id /);
  });

  it('discards plaintext the client pipelined after STARTTLS (no command injection)', async () => {
    const ip = '127.0.9.4';
    const { client: clear } = await srv.connect({ localAddress: ip });
    await clear.command('EHLO client.example');
    clear.write('STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\nRCPT TO:<alice@example.test>\r\n');
    expect((await clear.reply()).code).toBe(220);
    const { client } = await clear.startTls();
    await client.command('EHLO client.example');
    // Had the injected MAIL run inside the TLS session, RCPT would be accepted.
    expect((await client.command('RCPT TO:<alice@example.test>')).code).toBe(503);
    expect(logged(srv.records, 'phase decision').some((r) => r.peer === ip && r.phase === 'mailfrom')).toBe(false);
    await client.quit();
  });

  it('closes a connection whose handshake fails, and gives back its gauge and slot', async () => {
    const ip = '127.0.9.5';
    await srv.settled();
    const { client } = await srv.connect({ localAddress: ip });
    await client.command('EHLO client.example');
    expect((await client.command('STARTTLS')).code).toBe(220);
    client.write('this is not a TLS client hello\r\n\r\n');
    await client.closed;
    await srv.settled();
    expect(srv.gauge(ip)).toBe(0);
    expect(srv.listener.stats().open).toBe(0);
    expect(logged(srv.records, 'connection closed').filter((r) => r.peer === ip).map((r) => r.reason)).toEqual(['error']);
    expect(logged(srv.records, 'connection error').filter((r) => r.peer === ip)).toHaveLength(1);
  });

  it('serves a new certificate to the connections that start after updateTls (what SIGHUP calls)', async () => {
    srv.listener.updateTls({ key: readFileSync(join(TLS_DIR, 'b.key')), cert: readFileSync(join(TLS_DIR, 'b.crt')) });
    try {
      const { client: clear } = await srv.connect({ localAddress: '127.0.9.6' });
      await clear.command('EHLO client.example');
      await clear.command('STARTTLS');
      const { client, tls } = await clear.startTls();
      expect(tls.getPeerCertificate().subject.CN).toBe('mx-b.example.test');
      await client.quit();
    } finally {
      srv.listener.updateTls({ key: readFileSync(join(TLS_DIR, 'a.key')), cert: readFileSync(join(TLS_DIR, 'a.crt')) });
    }
  });
});
