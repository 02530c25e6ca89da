/**
 * A connection's local end: taken from the listener when it is bound to one
 * address (no getsockname per connection), asked of the kernel when it is
 * bound to a wildcard, where each connection's local address differs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyConnection } from '../../src/smtp/connection.ts';
import { ACCEPT_POLICY } from './lib/policies.ts';
import { RawSmtpClient } from './lib/raw-client.ts';
import { startTestServer, type TestServer } from './lib/server-harness.ts';

const seen: { fixed: PolicyConnection[]; wildcard: PolicyConnection[] } = { fixed: [], wildcard: [] };
let fixed: TestServer;
let wildcard: TestServer;

beforeAll(async () => {
  [fixed, wildcard] = await Promise.all([
    startTestServer({ scripts: { accept: ACCEPT_POLICY }, ipv4Only: true, onConnection: (c) => seen.fixed.push(c) }),
    startTestServer({ scripts: { accept: ACCEPT_POLICY }, listen: [{ host: '0.0.0.0', port: 0 }], onConnection: (c) => seen.wildcard.push(c) }),
  ]);
});

afterAll(async () => {
  await Promise.all([fixed.stop(), wildcard.stop()]);
});

async function localEndOf(server: TestServer, list: PolicyConnection[], host: string): Promise<{ conn: PolicyConnection; expected: { address: string; port: number } }> {
  const before = list.length;
  const { client } = await RawSmtpClient.connect({ host, port: server.port4 });
  const expected = { address: client.socket.remoteAddress!, port: client.socket.remotePort! };
  expect(list).toHaveLength(before + 1);
  await client.quit();
  return { conn: list[before]!, expected };
}

describe("a connection's local end", () => {
  it('is the listen address of a listener bound to one address', async () => {
    const { conn, expected } = await localEndOf(fixed, seen.fixed, '127.0.0.1');
    expect(expected).toEqual({ address: '127.0.0.1', port: fixed.port4 });
    expect({ address: conn.localAddress, port: conn.localPort }).toEqual(expected);
  });

  it('is the address the client reached on a wildcard listener, not 0.0.0.0', async () => {
    // Any 127/8 address reaches a 0.0.0.0 listener on Linux; each is a different local end.
    for (const host of ['127.0.0.1', '127.0.0.2']) {
      const { conn, expected } = await localEndOf(wildcard, seen.wildcard, host);
      expect(expected.address).toBe(host);
      expect({ address: conn.localAddress, port: conn.localPort }).toEqual(expected);
    }
  });
});
