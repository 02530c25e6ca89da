/**
 * QUIT ends the connection from the server's side once the 221 is out, as
 * Postfix's smtpd does: the session does not wait for the client's FIN, and
 * nothing the client sends after QUIT runs.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logged, startTestServer, type TestServer } from './lib/server-harness.ts';

const REJECT_MAIL = `
require("msys.core")
local p = {}
function p:validate_mailfrom(s, ac, vctx)
  vctx:set_code(550, "5.7.1 no mail here")
  return msys.core.VALIDATE_DONE
end
msys.registerModule("reject_mail", p)
`;

let srv: TestServer;

beforeAll(async () => {
  srv = await startTestServer({ scripts: { reject_mail: REJECT_MAIL }, ipv4Only: true });
});

afterAll(async () => {
  await srv.stop();
});

/** A client that keeps its own side open after the server's FIN (allowHalfOpen), and records all it is sent. */
function halfOpenClient(localAddress: string): Promise<{ socket: Socket; received: () => string; ended: Promise<void>; reply: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: srv.port4, localAddress, allowHalfOpen: true });
    let text = '';
    let wake: (() => void) | undefined;
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      wake?.();
    });
    const ended = new Promise<void>((r) => socket.once('end', () => r()));
    // Resolves when the text received so far ends with a complete final reply line.
    const reply = (): Promise<void> =>
      new Promise((r) => {
        const check = (): void => {
          if (/(^|\r\n)\d{3} [^\r\n]*\r\n$/.test(text)) {
            wake = undefined;
            r();
          }
        };
        wake = check;
        check();
      });
    socket.once('error', reject);
    socket.once('connect', () => resolve({ socket, received: () => text, ended, reply }));
  });
}

describe('QUIT', () => {
  it('closes the session once the 221 is out, while the client still holds its side open', async () => {
    const c = await halfOpenClient('127.0.21.1');
    await c.reply();
    c.socket.write('EHLO client.example\r\n');
    await c.reply();
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
    const c = await halfOpenClient('127.0.21.2');
    await c.reply();
    c.socket.write('EHLO client.example\r\n');
    await c.reply();
    c.socket.write('QUIT\r\nMAIL FROM:<a@sender.example>\r\n');
    await c.ended;
    await srv.settled(3000);
    // Only the 221 answers: the MAIL after it was neither answered nor judged.
    expect(c.received().split('\r\n').filter((l) => /^\d{3} /.test(l)).map((l) => l.slice(0, 3))).toEqual(['220', '250', '221']);
    expect(srv.count('rejections', '127.0.21.2')).toBe(0);
    expect(logged(srv.records, 'phase decision').filter((r) => r['phase'] === 'mailfrom')).toEqual([]);
    c.socket.destroy();
  });
});
