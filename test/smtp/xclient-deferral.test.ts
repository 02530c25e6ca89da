/**
 * Issue 14: a trusted XCLIENT peer (a staging proxy, a swaks loop) is neither
 * counted nor judged as itself until it either poses a client with XCLIENT
 * (then that client is judged) or sends anything other than EHLO/HELO/XCLIENT
 * (then it is judged as itself, its EHLO included).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MESSAGE, PHASE_POLICY } from './lib/policies.ts';
import { logged, startTestServer, type TestServer } from './lib/server-harness.ts';

let srv: TestServer;

beforeAll(async () => {
  srv = await startTestServer({
    scripts: { phases: PHASE_POLICY },
    ipv4Only: true,
    // 127.0.0.3 is one the phase policy disconnects at connect.
    yaml: 'xclient:\n  trusted: ["127.0.8.0/24", "127.0.0.3"]\nlimits:\n  max_connections_per_ip: 1000\n  max_connections: 1000',
  });
});

afterAll(async () => {
  await srv.stop();
});

describe('a trusted XCLIENT peer is judged only once it says who it is', () => {
  it('a proxy looping over sessions as other clients is never counted or refused as itself', async () => {
    const proxy = '127.0.8.1';
    for (let i = 1; i <= 40; i++) {
      const { client, greeting } = await srv.connect({ localAddress: proxy });
      expect(greeting.code).toBe(220);
      expect(srv.gauge(proxy)).toBe(0);
      expect((await client.command('EHLO proxy.example')).code).toBe(250);
      expect((await client.command(`XCLIENT ADDR=198.51.100.${i}`)).code).toBe(220);
      expect((await client.command('EHLO client.example')).code).toBe(250);
      expect((await client.command('MAIL FROM:<a@sender.example>')).code).toBe(250);
      expect((await client.command('RCPT TO:<alice@example.test>')).code).toBe(250);
      expect((await client.data(MESSAGE)).final?.code).toBe(250);
      await client.quit();
    }
    await srv.settled();
    expect(srv.count('connections', proxy)).toBe(0);
    expect(srv.count('rejections', proxy)).toBe(0);
    expect(srv.count('connections', '198.51.100.0/24')).toBe(40);
    expect(srv.count('receptions', '198.51.100.0/24')).toBe(40);
    expect(logged(srv.records, 'connection opened').filter((r) => r.peer === proxy)).toEqual([]);
  });

  it('a proxy that connects and goes away is not counted at all', async () => {
    const proxy = '127.0.8.2';
    const { client } = await srv.connect({ localAddress: proxy });
    await client.command('EHLO probe.example');
    await client.quit();
    await srv.settled();
    expect(srv.count('connections', proxy)).toBe(0);
  });

  it('a trusted peer that sends MAIL without XCLIENT is judged as itself: counted, and its connect verdict answers', async () => {
    const peer = '127.0.0.3';
    const { client, greeting } = await srv.connect({ localAddress: peer });
    // Greeted without judgement: the policy would have refused it at connect.
    expect(greeting.code).toBe(220);
    expect((await client.command('EHLO proxy.example')).code).toBe(250);
    expect(srv.count('connections', peer)).toBe(0);
    const r = await client.command('MAIL FROM:<a@sender.example>');
    expect(r.lines).toEqual(['421 4.7.0 Go away']);
    await client.closed;
    await srv.settled();
    expect(srv.count('connections', peer)).toBe(1);
    expect(srv.count('rejections', peer)).toBe(1);
  });

  it('judged as itself, its earlier EHLO goes through the ehlo phase too', async () => {
    const peer = '127.0.8.3';
    const { client } = await srv.connect({ localAddress: peer });
    expect((await client.command('EHLO bad.example')).code).toBe(250);
    // NOOP is neither EHLO/HELO nor XCLIENT: the peer is judged now, and its EHLO name is refused.
    const noop = await client.command('NOOP');
    expect(noop.lines).toEqual(['550 5.7.1 Bad HELO name']);
    expect(srv.count('connections', peer)).toBe(1);
    expect((await client.command('MAIL FROM:<a@sender.example>')).lines).toEqual(['503 5.5.1 Error: send HELO/EHLO first']);
    expect((await client.command('EHLO good.example')).code).toBe(250);
    expect((await client.command('MAIL FROM:<a@sender.example>')).code).toBe(250);
    await client.quit();
    await srv.settled();
    expect(srv.count('rejections', peer)).toBe(2);
  });
});
