import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerDataStream } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, monotonicMs } from '../../src/clock.ts';
import { captureLogger } from '../../src/log.ts';
import { MaildirSink, nodeMaildirFs } from '../../src/smtp/maildir-sink.ts';
import { ACCEPT_POLICY, MESSAGE } from './lib/policies.ts';
import type { RawSmtpClient } from './lib/raw-client.ts';
import { startTestServer, type TestServer } from './lib/server-harness.ts';

/** A real second SMTP server as next hop; its behaviour is picked per recipient. */
interface NextHop {
  port: number;
  received: { from: string; to: string[]; body: string; at: number }[];
  close(): Promise<void>;
}

async function startNextHop(): Promise<NextHop> {
  const received: NextHop['received'] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    hideSTARTTLS: true,
    hideENHANCEDSTATUSCODES: false,
    disableReverseLookup: true,
    logger: false,
    onRcptTo(address, _session, cb) {
      if (address.address === 'unknown@next.example') {
        return cb(Object.assign(new Error('5.1.1 <unknown@next.example>: Recipient address rejected'), { responseCode: 550 }));
      }
      if (address.address === 'full@next.example') {
        return cb(Object.assign(new Error('4.2.2 Mailbox full, try later'), { responseCode: 452 }));
      }
      cb();
    },
    onData(stream: SMTPServerDataStream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const to = session.envelope.rcptTo.map((r) => r.address);
        if (to.includes('slow@next.example')) {
          setTimeout(() => {
            received.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to, body: Buffer.concat(chunks).toString(), at: monotonicMs() });
            cb();
          }, 300);
          return;
        }
        if (to.includes('dataless@next.example')) return cb(Object.assign(new Error('5.6.0 Content refused'), { responseCode: 554 }));
        received.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to, body: Buffer.concat(chunks).toString(), at: monotonicMs() });
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as { port: number }).port;
  return { port, received, close: () => new Promise<void>((r) => server.close(() => r())) };
}

let hop: NextHop;
let srv: TestServer;

beforeAll(async () => {
  hop = await startNextHop();
  srv = await startTestServer({
    scripts: { accept: ACCEPT_POLICY },
    ipv4Only: true,
    yaml: `sink: { type: relay, host: 127.0.0.1, port: ${hop.port}, timeout_ms: 3000 }`,
  });
});

afterAll(async () => {
  await srv.stop();
  await hop.close();
});

async function send(s: TestServer, ip: string, rcpts: string[], body = MESSAGE): Promise<{ client: RawSmtpClient; code?: number; lines?: string[]; ms: number }> {
  const { client } = await s.connect({ localAddress: ip });
  await client.command('EHLO client.example');
  await client.command('MAIL FROM:<a@sender.example>');
  for (const r of rcpts) expect((await client.command(`RCPT TO:<${r}>`)).code).toBe(250);
  const t0 = monotonicMs();
  const { final } = await client.data(body);
  return { client, ...(final ? { code: final.code, lines: final.lines } : {}), ms: monotonicMs() - t0 };
}

describe('relay sink: confirm before accept', () => {
  it('answers 250 only after the next hop accepted, and the next hop has the message with a trace header', async () => {
    const body = 'Subject: relayed\r\n\r\n.leading dot\r\nbody\r\n';
    const r = await send(srv, '127.0.8.1', ['slow@next.example'], body);
    expect(r.code).toBe(250);
    // The next hop held its 250 for 300 ms; ours could not come earlier.
    expect(r.ms).toBeGreaterThanOrEqual(280);
    const got = hop.received.find((m) => m.to.includes('slow@next.example'));
    expect(got?.from).toBe('a@sender.example');
    expect(got?.body).toMatch(/^Received: from client\.example \(\[127\.0\.8\.1\]\)/);
    // Dot-stuffing survived the second hop.
    expect(got?.body.endsWith('Subject: relayed\r\n\r\n.leading dot\r\nbody\r\n')).toBe(true);
    expect(srv.count('receptions', '127.0.8.1')).toBe(1);
    await r.client.quit();
  });

  it("passes the next hop's 5xx back and counts no reception", async () => {
    const before = hop.received.length;
    const r = await send(srv, '127.0.8.2', ['ok@next.example', 'unknown@next.example']);
    expect(r.lines).toEqual(['550 5.1.1 <unknown@next.example>: Recipient address rejected']);
    expect(srv.count('receptions', '127.0.8.2')).toBe(0);
    expect(srv.count('rejections', '127.0.8.2')).toBe(1);
    // Nothing reached the next hop for the other recipient either.
    expect(hop.received.length).toBe(before);
    await r.client.quit();
  });

  it("passes the next hop's 4xx back", async () => {
    const r = await send(srv, '127.0.8.3', ['full@next.example']);
    expect(r.lines).toEqual(['452 4.2.2 Mailbox full, try later']);
    expect(srv.count('receptions', '127.0.8.3')).toBe(0);
    await r.client.quit();
  });

  it('passes a refusal at the end of DATA back', async () => {
    const r = await send(srv, '127.0.8.4', ['dataless@next.example']);
    expect(r.lines).toEqual(['554 5.6.0 Content refused']);
    await r.client.quit();
  });

  it('answers 451 when the next hop cannot be reached', async () => {
    const down = await startTestServer({
      scripts: { accept: ACCEPT_POLICY },
      ipv4Only: true,
      // Port 1 on loopback: connection refused.
      yaml: 'sink: { type: relay, host: 127.0.0.1, port: 1, timeout_ms: 1000 }',
    });
    try {
      const r = await send(down, '127.0.8.5', ['a@next.example']);
      expect(r.code).toBe(451);
      expect(down.count('receptions', '127.0.8.5')).toBe(0);
      expect(down.records.some((x) => x.msg === 'delivery failed' && x.code === 'MW_ERR_RELAY_UNAVAILABLE')).toBe(true);
      await r.client.quit();
    } finally {
      await down.stop();
    }
  });
});

describe('maildir sink through the server', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mw-md-fail-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('answers 451 4.3.0 and counts no reception when the disk write fails', async () => {
    const { logger } = captureLogger();
    const failing = new MaildirSink({
      path: dir,
      clock: new ManualClock(0),
      logger,
      hostname: 'mx',
      fs: {
        ...nodeMaildirFs,
        open: async (p, flags, mode) => {
          const h = await nodeMaildirFs.open(p, flags, mode);
          return { ...h, writeFile: h.writeFile.bind(h), close: h.close.bind(h), sync: async () => Promise.reject(Object.assign(new Error('ENOSPC: no space left'), { code: 'ENOSPC' })) };
        },
      },
    });
    await failing.open();
    const s = await startTestServer({ scripts: { accept: ACCEPT_POLICY }, ipv4Only: true, sink: failing });
    try {
      const r = await send(s, '127.0.8.6', ['alice@example.test']);
      expect(r.code).toBe(451);
      expect(r.lines?.[0]).toMatch(/^451 4\.3\.0 /);
      expect(s.count('receptions', '127.0.8.6')).toBe(0);
      expect(s.count('rejections', '127.0.8.6')).toBe(1);
      await r.client.quit();
    } finally {
      await s.stop();
    }
  });
});
