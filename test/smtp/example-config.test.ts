/**
 * What `npm start` serves: examples/moonwatch.yaml with the example policies,
 * here on a free port, driven over real sockets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCidr } from '../../src/audit/address.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { SystemClock } from '../../src/clock.ts';
import { loadConfigFile } from '../../src/config/load.ts';
import { engineOptionsFrom, storeOptionsFrom } from '../../src/config/schema.ts';
import { captureLogger } from '../../src/log.ts';
import { createEngine, type Engine } from '../../src/policy/engine.ts';
import { startSmtpServer, type SmtpListener } from '../../src/smtp/server.ts';
import { createSink } from '../../src/smtp/sink.ts';
import { MESSAGE } from './lib/policies.ts';
import { RawSmtpClient } from './lib/raw-client.ts';

let engine: Engine;
let listener: SmtpListener;
let store: AuditStore;
let port: number;
const { logger, records } = captureLogger('info');

beforeAll(async () => {
  const config = loadConfigFile('examples/moonwatch.yaml');
  const clock = new SystemClock();
  store = new AuditStore(storeOptionsFrom(config, { clock, logger }));
  engine = await createEngine(engineOptionsFrom(config, { clock, logger, store }));
  const sink = await createSink(config.sink, { clock, logger, hostname: config.hostname });
  listener = await startSmtpServer({ config, engine, sink, logger, clock, listen: [{ host: '127.0.0.1', port: 0 }] });
  port = listener.addresses()[0]!.port;
});

afterAll(async () => {
  await listener.close(0);
  await engine.close();
});

const open = (localAddress: string) => RawSmtpClient.connect({ host: '127.0.0.1', port, localAddress });

describe('the example config and policies over SMTP', () => {
  it('loads all six example modules in order', () => {
    expect(engine.status().scripts).toEqual(['whitelist', 'ip_rate', 'burst24', 'session_cap', 'smoothed_rate', 'dha']);
  });

  it('accepts mail for a known mailbox and refuses an unknown one (dha)', async () => {
    const { client, greeting } = await open('127.0.11.1');
    expect(greeting.lines).toEqual(['220 mx.example.test ESMTP moonwatch']);
    await client.command('EHLO client.example');
    await client.command('MAIL FROM:<a@sender.example>');
    expect((await client.command('RCPT TO:<nobody@example.test>')).lines).toEqual(['550 5.1.1 No such user here']);
    expect((await client.command('RCPT TO:<alice@example.test>')).code).toBe(250);
    expect((await client.data(MESSAGE)).final?.code).toBe(250);
    await client.quit();
    expect(store.count('receptions', '60,10', parseCidr('127.0.11.1'), 0, 9)).toBe(1);
  });

  it('caps concurrent sessions per IP (session_cap): the sixth is refused at connect', async () => {
    const held = [];
    for (let i = 0; i < 5; i++) held.push(await open('127.0.11.2'));
    const sixth = await open('127.0.11.2');
    expect(sixth.greeting.lines).toEqual(['421 4.7.0 Too many concurrent sessions from your IP address']);
    await sixth.client.closed;
    await Promise.all(held.map((h) => h.client.quit()));
  });

  it('lets a whitelisted network through XCLIENT past the session cap', async () => {
    const held = [];
    for (let i = 0; i < 7; i++) {
      const { client } = await open('127.0.0.1');
      await client.command('EHLO proxy.example');
      expect((await client.command('XCLIENT ADDR=198.51.100.7')).code).toBe(220);
      held.push(client);
    }
    expect(records.some((r) => r.msg === 'whitelist: 198.51.100.7 is partner relay')).toBe(true);
    await Promise.all(held.map((c) => c.quit()));
  });
});
