import { createSocket, type Socket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { NodeDnsResolver } from '../../src/msys/dns-resolver.ts';
import { runSession, testEngine } from '../helpers/engine.ts';
import { prints } from './helpers.ts';

/**
 * A tiny authoritative DNS server on 127.0.0.1 (no internet in tests): A and
 * MX and PTR answers, NXDOMAIN, SERVFAIL, and a name it never answers.
 */
function encodeName(name: string): Buffer {
  return Buffer.concat([...name.split('.').filter(Boolean).map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
}

function answer(query: Buffer, qname: string, qtype: number): Buffer | undefined {
  const rr = (type: number, rdata: Buffer) => {
    const head = Buffer.alloc(12);
    head.writeUInt16BE(0xc00c, 0);
    head.writeUInt16BE(type, 2);
    head.writeUInt16BE(1, 4);
    head.writeUInt32BE(60, 6);
    head.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([head, rdata]);
  };
  let rcode = 0;
  const answers: Buffer[] = [];
  if (qname === 'silent.test') return undefined;
  if (qname === 'ok.test' && qtype === 1) answers.push(rr(1, Buffer.from([192, 0, 2, 55])));
  else if (qname === 'ok.test' && qtype === 15) {
    for (const [pref, host] of [[20, 'mx2.ok.test'], [10, 'mx1.ok.test']] as const) {
      const p = Buffer.alloc(2);
      p.writeUInt16BE(pref);
      answers.push(rr(15, Buffer.concat([p, encodeName(host)])));
    }
  } else if (qname === '55.2.0.192.in-addr.arpa' && qtype === 12) answers.push(rr(12, encodeName('ok.test')));
  else if (qname === 'broken.test') rcode = 2;
  else if (qname !== 'ok.test') rcode = 3;
  const qend = 12 + encodeName(qname).length + 4;
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2);
  header.writeUInt16BE(0x8180 | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  return Buffer.concat([header, query.subarray(12, qend), ...answers]);
}

function readQuestion(msg: Buffer): { name: string; type: number } {
  const labels: string[] = [];
  let i = 12;
  while (msg[i]! !== 0) {
    labels.push(msg.subarray(i + 1, i + 1 + msg[i]!).toString());
    i += msg[i]! + 1;
  }
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(i + 1) };
}

let server: Socket;
let port = 0;
const seen: string[] = [];

beforeAll(async () => {
  server = createSocket('udp4');
  server.on('message', (msg, rinfo) => {
    const q = readQuestion(msg);
    seen.push(`${q.name}/${q.type}`);
    const reply = answer(msg, q.name, q.type);
    if (reply) server.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
  port = server.address().port;
});

afterAll(() => server.close());

describe('the real resolver (node:dns against a local UDP server)', () => {
  it('answers A, MX and PTR, maps NXDOMAIN, SERVFAIL and TIMEOUT, and caches answers', async () => {
    const clock = new ManualClock(0);
    const r = new NodeDnsResolver({ servers: [`127.0.0.1:${port}`], timeoutMs: 150, tries: 1, cacheTtlMs: 1000 }, clock);
    expect(await r.lookup({ name: 'ok.test', type: 'A' })).toEqual({ records: [{ value: '192.0.2.55' }] });
    expect(await r.lookup({ name: 'ok.test', type: 'MX' })).toEqual({ records: [{ value: 'mx2.ok.test', pref: 20 }, { value: 'mx1.ok.test', pref: 10 }] });
    expect(await r.lookup({ name: '55.2.0.192.in-addr.arpa', type: 'PTR' })).toEqual({ records: [{ value: 'ok.test' }] });
    expect(await r.lookup({ name: 'missing.test', type: 'A' })).toEqual({ error: 'NXDOMAIN' });
    expect(await r.lookup({ name: 'broken.test', type: 'A' })).toEqual({ error: 'SERVFAIL' });
    expect(await r.lookup({ name: 'silent.test', type: 'A' })).toEqual({ error: 'TIMEOUT' });
    const before = seen.filter((s) => s === 'ok.test/1').length;
    await r.lookup({ name: 'OK.test.', type: 'A' });
    expect(seen.filter((s) => s === 'ok.test/1').length).toBe(before);
    clock.advance(1001);
    await r.lookup({ name: 'ok.test', type: 'A' });
    expect(seen.filter((s) => s === 'ok.test/1').length).toBe(before + 1);
  });

  it('serves msys.dnsLookup and msys.pbp.fcdns_check in a real generation', async () => {
    const t = await testEngine({
      scripts: {
        'f.lua': `local m = {}
function m:validate_connect(ac, vctx)
  print(msys.dnsLookup("ok.test", "MX")[1])
  print(msys.pbp.fcdns_check(ac, vctx))
  print(vctx:get(msys.core.VCTX_CONN, "reverse_dns"), vctx:get(msys.core.VCTX_CONN, "fcdns_status"))
  return msys.core.VALIDATE_CONT
end
msys.registerModule("f", m)`,
      },
      overrides: {
        compat: {
          dns: new NodeDnsResolver({ servers: [`127.0.0.1:${port}`], timeoutMs: 300, tries: 1 }, new ManualClock(0)),
          sleep: () => Promise.resolve(),
          phaseTimeoutMs: 10_000,
        },
      },
    });
    await runSession(t, '192.0.2.55');
    await runSession(t, '192.0.2.56');
    expect(prints(t)).toEqual([
      'mx1.ok.test',
      'true\tnil\tnil',
      'ok.test\ttrue',
      'mx1.ok.test',
      'false\tNXDOMAIN\tnil',
      '\tfalse',
    ]);
  });
});
