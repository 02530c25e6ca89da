import { describe, expect, it } from 'vitest';
import { MESSAGE, runSession, testEngine } from '../helpers/engine.ts';
import type { InjectedMessage } from '../../src/msys/compat-services.ts';
import { faultLines, fixtureServices, prints } from './helpers.ts';

const LOGGER = `require("msys.core")
require("msys.dumper")
local m = {}
local function log(name, ...) print(name, ...) end
function m:validate_connect(ac, vctx) log("connect") return msys.core.VALIDATE_CONT end
function m:validate_rcptto(msg, str, ac, vctx) log("rcptto", tostring(str)) return msys.core.VALIDATE_CONT end
function m:validate_data(msg, ac, vctx) log("data") return msys.core.VALIDATE_CONT end
function m:validate_data_spool(msg, ac, vctx) log("data_spool") return msys.core.VALIDATE_CONT end
function m:validate_rcptto_list(list, vctx) log("rcptto_list", msys.dumper.Dumper(list)) return msys.core.VALIDATE_CONT end
function m:validate_rcptto_list_final(node, vctx) log("rcptto_list_final", #node) return msys.core.VALIDATE_CONT end
function m:validate_data_spool_each_rcpt(msg, ac, vctx) log("each_rcpt", msg:rcptto()) return msys.core.VALIDATE_CONT end
function m:core_post_msg_each_rcpt(msg, ac, vctx) log("post_each_rcpt", msg:rcptto()) return msys.core.VALIDATE_CONT end
function m:validate_set_binding(msg) log("set_binding", self == m, msg:rcptto()) end
function m:core_final_validation(msg, ac, vctx) log("final_validation", msg:rcptto(), vctx:get(msys.core.VCTX_MESS, "rcptto_domain")) return msys.core.VALIDATE_CONT end
function m:core_pre_mailq_message_requeue(msg, now) log("never") end
function m:core_log_delivery_v1(msg, dr, now, note, notelen) log("never") end
msys.registerModule("state_logger", m)`;

describe('inbound hooks after the spool', () => {
  it('runs the list and per-recipient hooks at their points with their arguments, and names the hooks it never runs', async () => {
    const t = await testEngine({ scripts: { 'logger.lua': LOGGER }, overrides: { compat: fixtureServices() } });
    await runSession(t, '192.0.2.1', { ehlo: 'c.test', mail: '<s@a.test>', rcpts: ['<r1@b.test>', '<r2@c.test>'], data: MESSAGE });
    expect(prints(t)).toEqual([
      'connect',
      'rcptto\tr1@b.test',
      'rcptto\tr2@c.test',
      'data',
      'data_spool',
      'rcptto_list\treturn {\n  "r1@b.test",\n  "r2@c.test"\n}',
      'rcptto_list_final\t2',
      'each_rcpt\tr1@b.test',
      'post_each_rcpt\tr1@b.test',
      'set_binding\ttrue\tr1@b.test',
      'final_validation\tr1@b.test\tc.test',
      'each_rcpt\tr2@c.test',
      'post_each_rcpt\tr2@c.test',
      'set_binding\ttrue\tr2@c.test',
      'final_validation\tr2@c.test\tc.test',
    ]);
    const info = t.records.filter((r) => r.msg.startsWith('hooks that moonwatch recognises but never runs'));
    expect(info).toHaveLength(1);
    expect(info[0]!.msg).toContain('state_logger:core_pre_mailq_message_requeue, state_logger:core_log_delivery_v1');
    expect(t.delivered).toHaveLength(1);
  });

  it('a rejection in core_final_validation rejects the DATA', async () => {
    const t = await testEngine({
      scripts: {
        'f.lua': `local m = {} function m:core_final_validation(msg, ac, vctx) vctx:set_code(554, "5.7.1 refused at final validation") return msys.core.VALIDATE_DONE end msys.registerModule("f", m)`,
      },
      overrides: { compat: fixtureServices() },
    });
    const { verdicts } = await runSession(t, '192.0.2.1', { mail: '<s@a.test>', rcpts: ['<r@b.test>'], data: MESSAGE });
    expect(verdicts['data']).toMatchObject({ action: 'reject', code: 554, text: 'refused at final validation' });
    expect(t.delivered).toHaveLength(0);
  });
});

describe('recipient-list, discard, envelope and message-construct methods', () => {
  it('reads, adds, replaces and removes recipients where allowed and refuses after the list is final', async () => {
    const t = await testEngine({
      scripts: {
        'r.lua': `local m = {}
function m:validate_rcptto(msg, str, ac, vctx)
  print("in rcptto", pcall(vctx.recipient_list, vctx, {"x@y.test"}))
  return msys.core.VALIDATE_CONT
end
function m:validate_data(msg, ac, vctx)
  vctx:add_recipient("added@d.test")
  vctx:add_recipient({ "<two@d.test>", "three@d.test" })
  vctx:remove_recipient("two@d.test")
  print(table.concat(vctx:recipient_list(), ","))
  print(pcall(vctx.add_recipient, vctx, "bad address"))
  return msys.core.VALIDATE_CONT
end
function m:validate_data_spool_each_rcpt(msg, ac, vctx)
  print("each", msg:get_envelope2(msys.core.EC_MSG_ENV_TO), msg:get_envelope2(msys.core.EC_MSG_ENV_FROM))
  if msg:rcptto() == "three@d.test" then msg:discard() end
  local ok, err = pcall(vctx.add_recipient, vctx, "late@d.test")
  print(ok, (err:gsub("^.-vctx", "vctx")))
  return msys.core.VALIDATE_CONT
end
msys.registerModule("r", m)`,
      },
      overrides: { compat: fixtureServices() },
    });
    const { verdicts } = await runSession(t, '192.0.2.1', { mail: '<s@a.test>', rcpts: ['<r@b.test>'], data: MESSAGE });
    expect(verdicts['data']).toEqual({ action: 'continue', tarpitMs: 0 });
    const out = prints(t);
    expect(out[0]).toMatch(/^in rcptto\tfalse\t.*vctx:recipient_list: cannot replace the list in validate_rcptto/);
    expect(out[1]).toBe('r@b.test,added@d.test,three@d.test');
    expect(out[2]).toMatch(/^false\t.*not a valid envelope address: 'bad address'/);
    expect(out[3]).toBe('each\tr@b.test\ts@a.test');
    expect(out[4]).toBe('false\tvctx:add_recipient: the recipient list is final (after validate_rcptto_list_final)');
    // three@d.test's copy was discarded; the other two are delivered.
    expect(t.delivered.map((d) => d.recipients)).toEqual([['r@b.test', 'added@d.test']]);
  });

  it('discarding the whole message answers 250 and delivers nothing', async () => {
    const t = await testEngine({
      scripts: { 'd.lua': `local m = {} function m:validate_data(msg, ac, vctx) msg:discard() return msys.core.VALIDATE_CONT end msys.registerModule("d", m)` },
      overrides: { compat: fixtureServices() },
    });
    const { verdicts } = await runSession(t, '192.0.2.1', { mail: '<s@a.test>', rcpts: ['<r@b.test>'], data: MESSAGE });
    expect(verdicts['data']).toEqual({ action: 'continue', tarpitMs: 0 });
    expect(t.delivered).toHaveLength(0);
  });

  it('builds a new message and injects it into the configured sink', async () => {
    const injected: InjectedMessage[] = [];
    const t = await testEngine({
      scripts: {
        'i.lua': `local m = {}
function m:validate_data(msg, ac, vctx)
  local n = msys.core.ec_message_new(msys.core.get_now_ts())
  print(n:build({ Subject = "copy", From = "policy@mx.test" }, "note about " .. msg:mailfrom() .. "\\n"))
  print(n:inject("policy@mx.test", { "audit@mx.test" }))
  local bare = msys.core.ec_message_new()
  print(pcall(bare.inject, bare, "a@b.test", "c@d.test"))
  return msys.core.VALIDATE_CONT
end
msys.registerModule("i", m)`,
      },
      overrides: { compat: fixtureServices({}, { inject: async (m) => void injected.push(m) }) },
    });
    await runSession(t, '192.0.2.1', { mail: '<s@a.test>', rcpts: ['<r@b.test>'], data: MESSAGE });
    const out = prints(t);
    expect(out.slice(0, 2)).toEqual(['true', 'true']);
    expect(out[2]).toMatch(/^false\t.*msg:inject: the message has no content \(call msg:build first\)/);
    expect(injected).toHaveLength(1);
    expect(injected[0]!.mailFrom).toBe('policy@mx.test');
    expect(injected[0]!.recipients).toEqual(['audit@mx.test']);
    expect(injected[0]!.raw.toString()).toBe('From: policy@mx.test\r\nSubject: copy\r\n\r\nnote about s@a.test\r\n');
    expect(faultLines(t)).toEqual([]);
  });

  it('inject without a sink answers nil and the reason', async () => {
    const t = await testEngine({
      scripts: {
        'i.lua': `local m = {} function m:validate_connect(ac, vctx) local n = msys.core.ec_message_new() n:build({"X-A: 1"}, "b") print(n:inject("a@b.test", "c@d.test")) return 0 end msys.registerModule("i", m)`,
      },
      overrides: { compat: fixtureServices() },
    });
    await runSession(t, '192.0.2.1');
    expect(prints(t)).toEqual(['nil\tno sink configured for injected messages']);
  });
});
