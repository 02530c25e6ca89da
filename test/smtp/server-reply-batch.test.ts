/**
 * The replies of one event-loop turn go out together (src/smtp/reply-batch.ts):
 * a pipelined group answered in one turn reaches the kernel in one write, in
 * order, and the 221 held back at QUIT is not lost when the socket closes.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyConnection } from '../../src/smtp/connection.ts';
import { ACCEPT_POLICY } from './lib/policies.ts';
import { startTestServer, type TestServer } from './lib/server-harness.ts';

const accepted: PolicyConnection[] = [];
let srv: TestServer;

beforeAll(async () => {
  srv = await startTestServer({ scripts: { accept: ACCEPT_POLICY }, ipv4Only: true, onConnection: (c) => accepted.push(c) });
});

afterAll(async () => {
  await srv.stop();
});

/** Counts the writes that reach the server side's socket handle (one per write or writev system call). */
function countHandleWrites(conn: PolicyConnection): { readonly count: number } {
  const handle = (conn._socket as unknown as { _handle: Record<string, unknown> })._handle;
  const counter = { count: 0 };
  for (const name of ['writeUtf8String', 'writeLatin1String', 'writeAsciiString', 'writeBuffer', 'writev']) {
    const original = handle[name];
    if (typeof original !== 'function') continue;
    handle[name] = function (this: unknown, ...args: unknown[]) {
      counter.count += 1;
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    };
  }
  return counter;
}

describe('replies of one turn', () => {
  it('writes the replies to a pipelined group with one system call, in order, the 221 included', async () => {
    const socket = connect({ host: '127.0.0.1', port: srv.port4, localAddress: '127.0.23.1' });
    let text = '';
    let writes: { readonly count: number } | undefined;
    const closed = new Promise<void>((resolve, reject) => {
      socket.on('error', reject);
      socket.on('close', () => resolve());
    });
    await new Promise<void>((resolve) => {
      socket.on('data', (d: Buffer) => {
        text += d.toString('latin1');
        if (text.endsWith('ESMTP moonwatch\r\n') && writes === undefined) socket.write('EHLO client.example\r\n');
        else if (/\r\n250 SIZE \d+\r\n$/.test(text) && writes === undefined) {
          // RFC 2920: MAIL and RCPT may be pipelined; QUIT ends the group.
          writes = countHandleWrites(accepted.at(-1)!);
          socket.write('MAIL FROM:<a@sender.example>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nQUIT\r\n');
          resolve();
        }
      });
    });
    await closed;
    expect(text.slice(text.indexOf('250 SIZE'))).toMatch(/^250 SIZE \d+\r\n250 2\.1\.0 Accepted\r\n250 2\.1\.5 Accepted\r\n250 2\.1\.5 Accepted\r\n221 2\.0\.0 Bye\r\n$/);
    expect(writes!.count).toBe(1);
  });
});
