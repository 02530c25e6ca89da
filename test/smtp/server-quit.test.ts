/**
 * QUIT ends the connection from the server's side once the 221 is out, as
 * Postfix's smtpd does: the session does not wait for the client's FIN, and
 * nothing the client sends after QUIT runs.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PHASE_POLICY } from './lib/policies.ts';
import { logged, startTestServer, type TestServer } from './lib/server-harness.ts';

let srv: TestServer;

beforeAll(async () => {
  srv = await startTestServer({ scripts: { phases: PHASE_POLICY }, ipv4Only: true });
});

afterAll(async () => {
  await srv.stop();
});

/**
 * A client past EHLO that keeps its own side open after the server's FIN
 * (allowHalfOpen), recording all it is sent.
 */
async function afterEhlo(localAddress: string): Promise<{ socket: Socket; received: () => string; ended: Promise<void> }> {
  const socket = connect({ host: '127.0.0.1', port: srv.port4, localAddress, allowHalfOpen: true });
  let text = '';
  let waiting: { re: RegExp; resolve: () => void } | undefined;
  socket.on('data', (d: Buffer) => {
    text += d.toString('latin1');
    if (waiting?.re.test(text) === true) {
      const w = waiting;
      waiting = undefined;
      w.resolve();
    }
  });
  const until = (re: RegExp): Promise<void> => new Promise((resolve) => (re.test(text) ? resolve() : (waiting = { re, resolve })));
  const ended = new Promise<void>((r) => socket.once('end', () => r()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  await until(/^220 [^\r\n]*\r\n$/);
  socket.write('EHLO client.example\r\n');
  await until(/\r\n250 [^\r\n]*\r\n$/);
  return { socket, received: () => text, ended };
}

describe('QUIT', () => {
  it('closes the session once the 221 is out, while the client still holds its side open', async () => {
    const c = await afterEhlo('127.0.21.1');
    c.socket.write('QUIT\r\n');
    await c.ended; // the server's FIN, the client has not ended its side
    expect(c.received()).toMatch(/\r\n221 [^\r\n]*\r\n$/);
    expect(c.socket.writableEnded).toBe(false);
    // The library's way read on until the client's FIN or a 5 s half-close deadline.
    await srv.settled(3000);
    const closed = logged(srv.records, 'session closed').filter((r) => r['peer'] === '127.0.21.1');
    expect(closed.map((r) => r['reason'])).toEqual(['quit']);
    c.socket.destroy();
  });

  it('does not run a command pipelined after QUIT', async () => {
    const c = await afterEhlo('127.0.21.2');
    // PHASE_POLICY refuses this sender at MAIL: had the MAIL run, it would count a rejection.
    c.socket.write('QUIT\r\nMAIL FROM:<spam@bad.example>\r\n');
    await c.ended;
    await srv.settled(3000);
    // Only the 221 answers: the MAIL after it was neither answered nor judged.
    expect(c.received().split('\r\n').filter((l) => /^\d{3} /.test(l)).map((l) => l.slice(0, 3))).toEqual(['220', '250', '221']);
    expect(srv.count('rejections', '127.0.21.2')).toBe(0);
    expect(logged(srv.records, 'phase decision').filter((r) => r['phase'] === 'mailfrom')).toEqual([]);
    c.socket.destroy();
  });
});
