import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { dotStuff, relayMessage } from '../../src/smtp/relay-client.ts';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A next hop that greets and then never answers again. */
function silentServer(): Promise<number> {
  const s = createServer((sock) => {
    sock.on('error', () => undefined);
    sock.resume();
    sock.write('220 silent ESMTP\r\n');
  });
  servers.push(s);
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port)));
}

/** A next hop that answers with garbage. */
function garbageServer(): Promise<number> {
  const s = createServer((sock) => {
    sock.on('error', () => undefined);
    sock.resume();
    sock.write('hello there\r\n');
  });
  servers.push(s);
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port)));
}

const req = (port: number, timeoutMs = 300) => ({
  host: '127.0.0.1',
  port,
  timeoutMs,
  heloName: 'mx.example',
  mailFrom: 'a@b.example',
  recipients: ['c@d.example'],
  raw: Buffer.from('Subject: x\r\n\r\ny\r\n'),
});

describe('relay client', () => {
  it('dot-stuffs lines that start with a dot and terminates the body', () => {
    expect(dotStuff(Buffer.from('.a\r\nb\r\n..c\r\n')).toString()).toBe('..a\r\nb\r\n...c\r\n.\r\n');
    expect(dotStuff(Buffer.from('no newline')).toString()).toBe('no newline\r\n.\r\n');
    expect(dotStuff(Buffer.alloc(0)).toString()).toBe('.\r\n');
  });

  it('fails with MW_ERR_RELAY_UNAVAILABLE when the next hop stops answering', async () => {
    const port = await silentServer();
    await expect(relayMessage(req(port))).rejects.toMatchObject({ code: 'MW_ERR_RELAY_UNAVAILABLE' });
  });

  it('fails with MW_ERR_RELAY_UNAVAILABLE on a malformed reply', async () => {
    const port = await garbageServer();
    await expect(relayMessage(req(port))).rejects.toMatchObject({ code: 'MW_ERR_RELAY_UNAVAILABLE' });
  });

  it('fails with MW_ERR_RELAY_UNAVAILABLE when nothing listens', async () => {
    await expect(relayMessage(req(1))).rejects.toMatchObject({ code: 'MW_ERR_RELAY_UNAVAILABLE' });
  });
});
