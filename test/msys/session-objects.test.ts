import { describe, expect, it } from 'vitest';
import { MESSAGE, runSession, testEngine } from '../helpers/engine.ts';

const prints = (t: { records: { msg: string; script_print?: unknown }[] }) =>
  t.records.filter((r) => r.script_print).map((r) => r.msg);

describe('vctx', () => {
  it('gives ehlo_string the whole EHLO argument and ehlo_domain its first word, whatever the white space', async () => {
    const t = await testEngine({
      scripts: {
        'e.lua': `local m = {}
function m:validate_ehlo(str, ac, vctx)
  print("[" .. vctx:get(msys.core.VCTX_CONN, "ehlo_string") .. "|" .. vctx:get(msys.core.VCTX_CONN, "ehlo_domain") .. "]")
  return msys.core.VALIDATE_CONT
end
msys.registerModule("e", m)`,
      },
    });
    const names = ['mx.example', 'a b', 'a\tb c', ' lead', 'tail ', 'a\u00a0b', 'caf\u00e9.example', '', 'x\u0001y'];
    for (const name of names) {
      const s = t.engine.openSession({ remote: { address: '192.0.2.9', port: 1 } });
      await s.connect();
      await s.ehlo(name);
      s.close('quit');
    }
    expect(prints(t)).toEqual(names.map((n) => `[${n}|${n.split(/\s+/)[0] ?? ''}]`));
    expect(prints(t)[1]).toBe('[a b|a]');
    expect(prints(t)[5]).toBe('[a\u00a0b|a]');
  });

  it('stores context values as strings and reports existence as 1/0', async () => {
    const t = await testEngine({
      scripts: {
        'v.lua': `local m = {}
function m:validate_connect(ac, vctx)
  vctx:set(msys.core.VCTX_CONN, "limit", 50)
  vctx:set(msys.core.VCTX_CONN, "flag", true)
  print(type(vctx:get(msys.core.VCTX_CONN, "limit")) .. " " .. vctx:get(msys.core.VCTX_CONN, "limit") .. " " .. vctx:get(msys.core.VCTX_CONN, "flag"))
  print(tostring(vctx:get(msys.core.VCTX_CONN, "missing")) .. " " .. vctx:exists(msys.core.VCTX_CONN, "limit") .. " " .. vctx:exists(msys.core.VCTX_MESS, "limit"))
  return msys.core.VALIDATE_CONT
end
function m:validate_mailfrom(str, ac, vctx)
  vctx:set(msys.core.VCTX_MESS, "per_message", "x")
  print("conn limit still " .. vctx:get(msys.core.VCTX_CONN, "limit") .. ", from domain " .. vctx:get(msys.core.VCTX_MESS, "mailfrom_domain"))
  return msys.core.VALIDATE_CONT
end
function m:validate_rcptto(msg, str, ac, vctx)
  print("mess key " .. tostring(vctx:get(msys.core.VCTX_MESS, "per_message")) .. " ehlo " .. vctx:get(msys.core.VCTX_CONN, "ehlo_domain"))
  return msys.core.VALIDATE_CONT
end
msys.registerModule("v", m)`,
      },
    });
    const { session } = await runSession(t, '192.0.2.1', { ehlo: 'client.test', mail: '<a@one.test>', rcpts: ['<r@x.test>'], keepOpen: true });
    // A new transaction empties the message context but keeps the connection context.
    await session.mailFrom('<b@two.test>');
    await session.rcptTo('<r@x.test>');
    session.close('quit');
    expect(prints(t)).toEqual([
      'string 50 true',
      'nil 1 0',
      'conn limit still 50, from domain one.test',
      'mess key x ehlo client.test',
      'conn limit still 50, from domain two.test',
      'mess key x ehlo client.test',
    ]);
  });

  it('turns set_code + vctx.disconnect = 1 into a disconnect, and accumulates tarpits', async () => {
    const t = await testEngine({
      scripts: {
        'v.lua': `local m = {}
function m:validate_connect(ac, vctx)
  vctx:tarpit(1.5)
  vctx:tarpit(2)
  return msys.core.VALIDATE_CONT
end
function m:validate_ehlo(str, ac, vctx)
  vctx:set_code(554, "5.7.1 Blocked")
  vctx.disconnect = 1
  return msys.core.VALIDATE_DONE
end
msys.registerModule("v", m)`,
      },
    });
    const { verdicts } = await runSession(t, '192.0.2.1', { ehlo: 'x' });
    expect(verdicts['connect']).toEqual({ action: 'continue', tarpitMs: 3500 });
    expect(verdicts['ehlo']).toEqual({ action: 'disconnect', code: 554, enhanced: '5.7.1', text: 'Blocked', tarpitMs: 0 });
  });

  it('vctx:disconnect() without arguments closes with 421 and the hostname', async () => {
    const t = await testEngine({
      scripts: { 'v.lua': `local m = {} function m:validate_connect(ac, vctx) vctx:disconnect() return msys.core.VALIDATE_DONE end msys.registerModule("v", m)` },
    });
    const { verdicts } = await runSession(t, '192.0.2.1');
    expect(verdicts['connect']).toEqual({ action: 'disconnect', code: 421, text: 'mx.test closing connection', tarpitMs: 0 });
  });
});

describe('ac and sockaddr', () => {
  it('prints remote_addr as ip:port for IPv4 and ip.port for IPv6, with the address family', async () => {
    const t = await testEngine({
      scripts: {
        'a.lua': `local m = {}
function m:validate_connect(ac, vctx)
  local sa = ac.remote_addr
  local fam = msys.core.ec_sockaddr_family(sa) == msys.core.AF_INET and "inet" or "inet6"
  print(tostring(sa) .. " " .. fam .. " " .. tostring(ac.conn_id ~= nil) .. " " .. tostring(ac.protocol == msys.core.P_ESMTP))
  return msys.core.VALIDATE_CONT
end
msys.registerModule("a", m)`,
      },
    });
    await runSession(t, '192.0.2.33');
    await runSession(t, '::ffff:192.0.2.34');
    await runSession(t, '2001:db8::7');
    expect(prints(t)).toEqual(['192.0.2.33:40000 inet true true', '192.0.2.34:40000 inet true true', '2001:db8::7.40000 inet6 true true']);
  });
});

describe('msg and the message construct', () => {
  it('exposes the envelope, headers, size and message context, and delivers header edits', async () => {
    const t = await testEngine({
      scripts: {
        'g.lua': `local m = {}
function m:validate_mailfrom(str, ac, vctx)
  local mc = msys.core.accept_construct_get_message_construct(ac)
  print("mailfrom via construct: " .. mc.message:mailfrom() .. " " .. tostring(mc.ctx == vctx))
  return msys.core.VALIDATE_CONT
end
function m:validate_connect(ac, vctx)
  print("construct before MAIL: " .. tostring(msys.core.accept_construct_get_message_construct(ac)))
  return msys.core.VALIDATE_CONT
end
function m:validate_rcptto(msg, str, ac, vctx)
  print("rcpt " .. msg:rcptto() .. " from " .. msg:mailfrom())
  return msys.core.VALIDATE_CONT
end
function m:validate_data(msg, ac, vctx)
  print("subject=" .. msg:header("Subject")[1] .. " size=" .. msg:get_message_size() .. " missing=" .. #msg:header("X-None"))
  msg:header("X-Policy", "checked")
  msg:header("Subject", "[tagged] hello")
  msg:header("To", "")
  msg:context_set(msys.core.ECMESS_CTX_MESS, "scored", 7)
  print("ctx=" .. msg:context_get(msys.core.ECMESS_CTX_MESS, "scored") .. " empty='" .. msg:context_get(msys.core.ECMESS_CTX_MESS, "nope") .. "' exists=" .. msg:context_exists(msys.core.ECMESS_CTX_MESS, "scored"))
  return msys.core.VALIDATE_CONT
end
msys.registerModule("g", m)`,
      },
    });
    await runSession(t, '192.0.2.1', { mail: '<a@sender.test>', rcpts: ['<b@rcpt.test>'], data: MESSAGE });
    expect(prints(t)).toEqual([
      'construct before MAIL: nil',
      'mailfrom via construct: a@sender.test true',
      'rcpt b@rcpt.test from a@sender.test',
      `subject=hello size=${Buffer.byteLength(MESSAGE)} missing=0`,
      "ctx=7 empty='' exists=1",
    ]);
    const delivered = t.delivered[0]!.raw.toString();
    expect(delivered).toBe('From: a@sender.test\r\nX-Policy: checked\r\nSubject: [tagged] hello\r\n\r\nbody line\r\n');
  });

  it('refuses header values that would inject CR/LF', async () => {
    const t = await testEngine({
      scripts: {
        'g.lua': `local m = {}
function m:validate_data(msg, ac, vctx)
  local ok, err = pcall(function() msg:header("X-Evil", "a\\r\\nBcc: victim@x") end)
  print(tostring(ok) .. " " .. err)
  return msys.core.VALIDATE_CONT
end
msys.registerModule("g", m)`,
      },
    });
    await runSession(t, '192.0.2.1', { mail: '<a@s.test>', rcpts: ['<b@r.test>'], data: MESSAGE });
    expect(prints(t)[0]).toMatch(/^false .*must not contain CR or LF/);
    expect(t.delivered[0]!.raw.toString()).toBe(MESSAGE);
  });
});

describe('msys.core and msys.expandMacro', () => {
  it('reads the injected clock, pre-populates every msys table and expands macros', async () => {
    const t = await testEngine({
      scripts: {
        'c.lua': `local m = {}
local core = require("msys.core")
local same = require("msys.audit_series") == msys.audit_series and require("msys.extended.vctx") == msys.extended.vctx
function m:validate_ehlo(str, ac, vctx)
  vctx:set(msys.core.VCTX_CONN, "limit", 10)
  print("now=" .. msys.core.get_now_ts() .. " same=" .. tostring(same) .. " core=" .. tostring(core == msys.core))
  print(msys.expandMacro("%{i} %{vctx_conn:limit} [%{vctx_conn:none}] %{spfv1:i} %{spfv1:h} %{unknown:x}"))
  return msys.core.VALIDATE_CONT
end
function m:validate_mailfrom(str, ac, vctx)
  print(msys.expandMacro("%{spfv1:s} %{spfv1:l} %{spfv1:o} %{spfv1:d} %{spfv1:ir} %{spfv1:d1} %{vctx_mess:mailfrom_localpart}"))
  return msys.core.VALIDATE_CONT
end
msys.registerModule("c", m)`,
      },
    });
    await runSession(t, '192.0.2.9', { ehlo: 'helo.example', mail: '<user@mail.sender.test>' });
    await runSession(t, '2001:db8::1', { ehlo: 'h6' });
    expect(prints(t)).toEqual([
      `now=${Math.floor(t.clock.now() / 1000)} same=true core=true`,
      '192.0.2.9 10 [] 192.0.2.9 helo.example %{unknown:x}',
      'user@mail.sender.test user mail.sender.test mail.sender.test 9.2.0.192 test user',
      `now=${Math.floor(t.clock.now() / 1000)} same=true core=true`,
      `2001:db8::1 10 [] ${'20010db8000000000000000000000001'.split('').join('.')} h6 %{unknown:x}`,
    ]);
  });

  it('prints integral numbers as integers and never wraps large values', async () => {
    const t = await testEngine({
      scripts: {
        'n.lua': `local m = {}
function m:validate_connect(ac, vctx)
  local n = msys.audit.connections("300,6")
  local ts = msys.core.get_now_ts()
  print("n=" .. n .. " ms=" .. ts * 1000 .. " half=" .. n / 2 .. " fmt=" .. string.format("%d", n))
  return msys.core.VALIDATE_CONT
end
msys.registerModule("n", m)`,
      },
    });
    await runSession(t, '192.0.2.1');
    expect(prints(t)).toEqual([`n=1 ms=${Math.floor(t.clock.now() / 1000) * 1000} half=0.5 fmt=1`]);
  });
});
