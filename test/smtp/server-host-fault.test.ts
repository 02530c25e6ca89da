/**
 * An exception out of the engine is a host bug (script faults are verdicts
 * already): the client gets 451 4.3.0, the error is logged, the reply counts
 * as a rejection, and the session goes on. The engine here is the real one,
 * with one phase made to fail for the addresses the test picks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyEngine, PolicySession } from '../../src/policy/session-api.ts';
import { ACCEPT_POLICY } from './lib/policies.ts';
import { logged, startTestServer, type TestServer } from './lib/server-harness.ts';

let srv: TestServer;

/**
 * Sessions from 127.0.13.x fail the phase named by the last octet (1 = connect,
 * 2 = ehlo, 3 = mailfrom, 4 = rcptto) with a rejected promise; from 127.0.14.x
 * the same phase throws at once (the session API answers synchronously when no
 * script waits, so a fault can come either way).
 */
function faulty(engine: PolicyEngine): PolicyEngine {
  return {
    openSession(opts) {
      const s = engine.openSession(opts);
      const octets = opts.remote.address.replace(/^::ffff:/, '').split('.');
      const fail = octets[2] === '13' || octets[2] === '14' ? Number(octets[3]) : 0;
      const boom = (): Promise<never> => {
        if (octets[2] === '14') throw new Error('engine exploded');
        return Promise.reject(new Error('engine exploded'));
      };
      const session: PolicySession = {
        id: s.id,
        generation: s.generation,
        connect: () => (fail === 1 ? boom() : s.connect()),
        ehlo: (name) => (fail === 2 ? boom() : s.ehlo(name)),
        mailFrom: (a) => (fail === 3 ? boom() : s.mailFrom(a)),
        rcptTo: (a) => (fail === 4 ? boom() : s.rcptTo(a)),
        data: (m, d) => s.data(m, d),
        reset: () => s.reset(),
        protocolRejection: (code) => s.protocolRejection(code),
        close: (reason) => s.close(reason),
      };
      return session;
    },
  };
}

beforeAll(async () => {
  srv = await startTestServer({ scripts: { accept: ACCEPT_POLICY }, ipv4Only: true, wrapEngine: faulty });
});

afterAll(async () => {
  await srv.stop();
});

describe('an engine exception', () => {
  // 127.0.13.x: the engine's promise rejects; 127.0.14.x: it throws at once.
  it.each(['127.0.13.1', '127.0.14.1'])('at connect (%s): 451 4.3.0 instead of the greeting, logged and counted, then the session is closed', async (ip) => {
    const { client, greeting } = await srv.connect({ localAddress: ip });
    expect(greeting.code).toBe(451);
    expect(greeting.enhanced).toBe('4.3.0');
    await client.closed;
    await srv.settled();
    expect(srv.count('rejections', ip)).toBe(1);
    expect(logged(srv.records, 'policy phase failed').filter((r) => r.peer === ip).map((r) => [r.phase, r.err])).toEqual([['connect', 'engine exploded']]);
  });

  it.each(['127.0.13.3', '127.0.14.3'])('at MAIL FROM (%s): 451 4.3.0, counted once, and the session can go on', async (ip) => {
    const { client } = await srv.connect({ localAddress: ip });
    expect((await client.command('EHLO client.example')).code).toBe(250);
    const r = await client.command('MAIL FROM:<a@sender.example>');
    expect([r.code, r.enhanced, r.text]).toEqual([451, '4.3.0', 'Local error in processing']);
    expect((await client.command('NOOP')).code).toBe(250);
    expect((await client.quit()).code).toBe(221);
    await srv.settled();
    expect(srv.count('rejections', ip)).toBe(1);
    expect(logged(srv.records, 'protocol rejection').filter((r) => r.peer === ip).map((r) => r.code)).toEqual([451]);
  });

  it('at RCPT TO after a good MAIL: only the failing phase is answered 451', async () => {
    const ip = '127.0.13.4';
    const { client } = await srv.connect({ localAddress: ip });
    await client.command('EHLO client.example');
    expect((await client.command('MAIL FROM:<a@sender.example>')).code).toBe(250);
    const r = await client.command('RCPT TO:<alice@example.test>');
    expect([r.code, r.enhanced]).toEqual([451, '4.3.0']);
    expect((await client.quit()).code).toBe(221);
    await srv.settled();
    expect(srv.count('rejections', ip)).toBe(1);
  });
});
