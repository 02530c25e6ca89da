import { describe, expect, it } from 'vitest';
import { hostCidr, parseAddress, parseCidr } from '../../src/audit/address.ts';
import { LEVELS } from '../../src/log.ts';
import { logs, MESSAGE, runSession, testEngine } from '../helpers/engine.ts';

const TRACE_ALL = `
local m = {}
local function note(phase, extra) print(phase .. (extra and (" " .. tostring(extra)) or "")) end
function m:core_validate_accept(ac, vctx) note("accept") return msys.core.VALIDATE_CONT end
function m:validate_connect(ac, vctx) note("connect") return msys.core.VALIDATE_CONT end
function m:validate_ehlo(str, ac, vctx) note("ehlo", str) return msys.core.VALIDATE_CONT end
function m:validate_mailfrom(str, ac, vctx) note("mailfrom", str) return msys.core.VALIDATE_CONT end
function m:validate_rcptto(msg, str, ac, vctx) note("rcptto", str) return msys.core.VALIDATE_CONT end
function m:validate_data(msg, ac, vctx) note("data") return msys.core.VALIDATE_CONT end
function m:validate_data_spool(msg, ac, vctx) note("data_spool") return msys.core.VALIDATE_CONT end
function m:validate_data_spool_each_rcpt(msg, ac, vctx) note("each_rcpt", msg:rcptto()) return msys.core.VALIDATE_CONT end
function m:validate_dealloc() note("dealloc") end
msys.registerModule("trace", m)
`;

const prints = (records: { msg: string; script_print?: unknown }[]) => records.filter((r) => r.script_print).map((r) => r.msg);

describe('PolicySession phases', () => {
  it('runs every phase in SMTP order with the documented arguments', async () => {
    const t = await testEngine({ scripts: { 'trace.lua': TRACE_ALL } });
    const { verdicts } = await runSession(t, '192.0.2.10', {
      ehlo: 'client.example',
      mail: '<a@sender.test>',
      rcpts: ['<b@rcpt.test>', '<c@rcpt.test>'],
      data: MESSAGE,
    });
    expect(Object.values(verdicts).every((v) => v.action === 'continue')).toBe(true);
    expect(prints(t.records)).toEqual([
      'accept',
      'connect',
      'ehlo client.example',
      'mailfrom a@sender.test',
      'rcptto b@rcpt.test',
      'rcptto c@rcpt.test',
      'data',
      'data_spool',
      'each_rcpt b@rcpt.test',
      'each_rcpt c@rcpt.test',
      'dealloc',
    ]);
    expect(t.delivered).toHaveLength(1);
    expect(t.delivered[0]!.recipients).toEqual(['b@rcpt.test', 'c@rcpt.test']);
  });

  it('answers each phase with the vctx disposition of that phase', async () => {
    const t = await testEngine({
      scripts: {
        'gate.lua': `
local m = {}
function m:validate_ehlo(str, ac, vctx)
  if tostring(str) == "bad.example" then vctx:set_code(550, "5.7.1 Go away") return msys.core.VALIDATE_DONE end
  return msys.core.VALIDATE_CONT
end
function m:validate_rcptto(msg, str, ac, vctx)
  if tostring(str) == "nobody@rcpt.test" then vctx:set_code(550, "5.1.1 No such user") return msys.core.VALIDATE_DONE end
  if tostring(str) == "later@rcpt.test" then vctx:set_code("451", "4.7.1 Try later") return msys.core.VALIDATE_DONE end
  return msys.core.VALIDATE_CONT
end
function m:validate_data(msg, ac, vctx)
  if msg:header("Subject")[1] == "spam" then vctx:disconnect(421, "4.7.0 Bye") return msys.core.VALIDATE_DONE end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("gate", m)`,
      },
    });
    const ehlo = await runSession(t, '192.0.2.1', { ehlo: 'bad.example' });
    expect(ehlo.verdicts['ehlo']).toEqual({ action: 'reject', code: 550, enhanced: '5.7.1', text: 'Go away', tarpitMs: 0 });

    const rcpt = await runSession(t, '192.0.2.1', {
      ehlo: 'ok.example',
      mail: '<a@s.test>',
      rcpts: ['<nobody@rcpt.test>', '<later@rcpt.test>', '<yes@rcpt.test>'],
      data: 'Subject: spam\r\n\r\nx\r\n',
    });
    expect(rcpt.verdicts['rcpt0']).toMatchObject({ action: 'reject', code: 550, enhanced: '5.1.1', text: 'No such user' });
    expect(rcpt.verdicts['rcpt1']).toMatchObject({ action: 'tempfail', code: 451, enhanced: '4.7.1' });
    expect(rcpt.verdicts['rcpt2']).toMatchObject({ action: 'continue' });
    expect(rcpt.verdicts['data']).toMatchObject({ action: 'disconnect', code: 421, enhanced: '4.7.0', text: 'Bye' });
    expect(t.delivered).toHaveLength(0);
  });

  it('VALIDATE_DONE stops the remaining modules of the phase only', async () => {
    const mod = (name: string, done: boolean) => `
local m = {}
function m:validate_connect(ac, vctx) print("${name} connect") return msys.core.${done ? 'VALIDATE_DONE' : 'VALIDATE_CONT'} end
function m:validate_ehlo(str, ac, vctx) print("${name} ehlo") return msys.core.VALIDATE_CONT end
msys.registerModule("${name}", m)`;
    const t = await testEngine({
      scripts: { 'first.lua': mod('first', false), 'second.lua': mod('second', true), 'third.lua': mod('third', false) },
      modules: ['first', 'second', 'third'],
    });
    await runSession(t, '192.0.2.2', { ehlo: 'x' });
    expect(prints(t.records)).toEqual(['first connect', 'second connect', 'first ehlo', 'second ehlo', 'third ehlo']);
  });

  it('treats a missing return as CONT and logs "<callout> error: (null)"', async () => {
    const t = await testEngine({
      scripts: {
        'a.lua': `local m = {} function m:validate_connect(ac, vctx) end msys.registerModule("a", m)`,
        'b.lua': `local m = {} function m:validate_connect(ac, vctx) print("b ran") return msys.core.VALIDATE_CONT end msys.registerModule("b", m)`,
      },
      modules: ['a', 'b'],
    });
    const { verdicts } = await runSession(t, '192.0.2.3');
    expect(verdicts['connect']!.action).toBe('continue');
    expect(prints(t.records)).toEqual(['b ran']);
    const warn = logs(t.records, 'validate_connect error: (null)', LEVELS.warn);
    expect(warn).toHaveLength(1);
    expect(warn[0]).toMatchObject({ module: 'a', phase: 'connect' });
  });

  it('gives each (module, connection) its own self table that lives until dealloc', async () => {
    const t = await testEngine({
      scripts: {
        'counter.lua': `
local m = {}
function m:validate_connect(ac, vctx) self.n = (self.n or 0) + 1 return msys.core.VALIDATE_CONT end
function m:validate_rcptto(msg, str, ac, vctx) self.n = self.n + 1 return msys.core.VALIDATE_CONT end
function m:validate_dealloc() print("n=" .. self.n) end
msys.registerModule("counter", m)`,
        'other.lua': `
local m = {}
function m:validate_connect(ac, vctx) print("other sees " .. tostring(self.n)) return msys.core.VALIDATE_CONT end
msys.registerModule("other", m)`,
      },
      modules: ['counter', 'other'],
    });
    await runSession(t, '192.0.2.4', { mail: '<a@b.test>', rcpts: ['<x@y.test>', '<z@y.test>'] });
    await runSession(t, '192.0.2.4', { mail: '<a@b.test>', rcpts: ['<x@y.test>'] });
    // A fresh self per connection: 1 + 2 rcpts, then 1 + 1; never shared with module "other".
    expect(prints(t.records)).toEqual(['other sees nil', 'n=3', 'other sees nil', 'n=2']);
  });

  it('runs validate_dealloc only for modules that ran earlier in the session', async () => {
    const t = await testEngine({
      scripts: {
        'early.lua': `local m = {}
function m:validate_connect(ac, vctx) vctx:set_code(554, "5.7.1 No") vctx.disconnect = 1 return msys.core.VALIDATE_DONE end
function m:validate_dealloc() print("early dealloc") end
msys.registerModule("early", m)`,
        'late.lua': `local m = {}
function m:validate_connect(ac, vctx) return msys.core.VALIDATE_CONT end
function m:validate_dealloc() print("late dealloc") end
msys.registerModule("late", m)`,
      },
      modules: ['early', 'late'],
    });
    const { verdicts } = await runSession(t, '192.0.2.5');
    expect(verdicts['connect']).toMatchObject({ action: 'disconnect', code: 554, enhanced: '5.7.1' });
    expect(prints(t.records)).toEqual(['early dealloc']);
  });
});

describe('PolicySession audit events', () => {
  const ACCEPT_ALL = `local m = {} function m:validate_connect(ac, vctx) return msys.core.VALIDATE_CONT end msys.registerModule("all", m)`;

  it('counts the connection at accept, so the connecting session sees itself', async () => {
    const t = await testEngine({
      scripts: {
        'see.lua': `local m = {}
function m:core_validate_accept(ac, vctx)
  print("conns=" .. msys.audit.connections("300,6") .. " live=" .. msys.audit.inbound_session_count("/32", "SMTP"))
  return msys.core.VALIDATE_CONT
end
msys.registerModule("see", m)`,
      },
    });
    await runSession(t, '198.51.100.7');
    await runSession(t, '198.51.100.7');
    expect(prints(t.records)).toEqual(['conns=1 live=1', 'conns=2 live=1']);
  });

  it('records a rejection for every 4xx/5xx verdict, including the failure mode and protocol rejections', async () => {
    const t = await testEngine({
      scripts: {
        'rej.lua': `local m = {}
function m:validate_rcptto(msg, str, ac, vctx)
  if tostring(str) == "boom@x.test" then error("kaboom") end
  vctx:set_code(550, "5.1.1 unknown") return msys.core.VALIDATE_DONE
end
msys.registerModule("rej", m)`,
      },
    });
    const peer = parseAddress('203.0.113.9');
    const { session } = await runSession(t, '203.0.113.9', { mail: '<a@b.test>', rcpts: ['<x@x.test>', '<boom@x.test>'], keepOpen: true });
    session.protocolRejection(500);
    session.protocolRejection(250); // not a rejection
    session.close('quit');
    session.protocolRejection(500); // after close: ignored
    expect(t.store.count('rejections', '300,6', hostCidr(peer))).toBe(3);
    expect(t.store.count('connections', '300,6', hostCidr(peer))).toBe(1);
  });

  it('counts receptions per recipient by default and per message when configured', async () => {
    for (const [unit, expected] of [['recipient', 3], ['message', 1]] as const) {
      const t = await testEngine({ scripts: { 'all.lua': ACCEPT_ALL }, overrides: { receptionUnit: unit } });
      await runSession(t, '192.0.2.77', { mail: '<a@b.test>', rcpts: ['<1@x.test>', '<2@x.test>', '<3@x.test>'], data: MESSAGE });
      expect(t.store.count('receptions', '300,6', parseCidr('192.0.2.0/24'))).toBe(expected);
    }
  });

  it('answers tempfail and counts no reception when the sink fails', async () => {
    const t = await testEngine({ scripts: { 'all.lua': ACCEPT_ALL } });
    const s = t.engine.openSession({ remote: { address: '192.0.2.88', port: 1 } });
    await s.connect();
    await s.mailFrom('<a@b.test>');
    await s.rcptTo('<c@d.test>');
    const v = await s.data({ raw: Buffer.from(MESSAGE) }, async () => {
      throw new Error('disk full');
    });
    expect(v).toMatchObject({ action: 'tempfail', code: 451, enhanced: '4.3.0' });
    const relayed = await (async () => {
      await s.mailFrom('<a@b.test>');
      await s.rcptTo('<c@d.test>');
      return s.data({ raw: Buffer.from(MESSAGE) }, async () => {
        throw Object.assign(new Error('next hop said no'), { responseCode: 554, smtpText: 'relay refused' });
      });
    })();
    expect(relayed).toMatchObject({ action: 'reject', code: 554, text: 'relay refused' });
    s.close('quit');
    const cidr = hostCidr(parseAddress('192.0.2.88'));
    expect(t.store.count('receptions', '300,6', cidr)).toBe(0);
    expect(t.store.count('rejections', '300,6', cidr)).toBe(2);
    expect(logs(t.records, 'message was not accepted by the sink', LEVELS.error)).toHaveLength(2);
  });

  it('opens the SMTP gauge at accept and closes it exactly once', async () => {
    const t = await testEngine({ scripts: { 'all.lua': ACCEPT_ALL } });
    const cidr = parseCidr('192.0.2.0/24');
    const a = t.engine.openSession({ remote: { address: '192.0.2.1', port: 1 } });
    const b = t.engine.openSession({ remote: { address: '::ffff:192.0.2.2', port: 2 } });
    expect(t.store.gauges.count('SMTP', cidr)).toBe(2);
    a.close('quit');
    a.close('timeout');
    expect(t.store.gauges.count('SMTP', cidr)).toBe(1);
    b.close('reset');
    expect(t.store.gauges.count('SMTP', cidr)).toBe(0);
    expect(t.engine.status().openSessions).toBe(0);
  });
});
