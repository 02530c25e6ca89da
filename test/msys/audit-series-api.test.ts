import { describe, expect, it } from 'vitest';
import { parseCidr } from '../../src/audit/address.ts';
import { runSession, testEngine } from '../helpers/engine.ts';

const DHA = `
local dha = {}
function dha:init()
  msys.audit_series.define("bad_rcpt", "cidr", 300, 12, { persist = true })
  msys.audit_series.define("bad_rcpt6", "cidr_ipv6", 300, 12)
  msys.audit_series.define("senders", "string", 60, 10)
  return true
end
function dha:validate_rcptto(msg, str, ac, vctx)
  local rcpt = tostring(str)
  if rcpt:match("^unknown") then
    -- the training policy's shape: table options with key = ac
    msys.audit_series.add("bad_rcpt", { key = ac })
    msys.audit_series.add("bad_rcpt6", { key = ac })
  end
  msys.audit_series.add("senders", { key = msg:mailfrom(), count = 2.9 })
  local misses = msys.audit_series.count("bad_rcpt", { key = ac, startv = 0, endv = 11 })
  local net = msys.audit_series.count("bad_rcpt", { key = "/24", startv = 0, endv = 11 })
  print("misses=" .. misses .. " net=" .. net .. " v6=" .. msys.audit_series.count("bad_rcpt6", { key = ac }))
  if misses > 2 then
    vctx:set_code(550, "5.7.1 Too many unknown recipients")
    return msys.core.VALIDATE_DONE
  end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("dha", dha)`;

const prints = (t: { records: { msg: string; script_print?: unknown }[] }) =>
  t.records.filter((r) => r.script_print).map((r) => r.msg);

describe('msys.audit_series', () => {
  it('adds with key = ac, counts per address and per relative CIDR, and enforces a DHA threshold', async () => {
    const t = await testEngine({ scripts: { 'dha.lua': DHA } });
    const { verdicts } = await runSession(t, '192.0.2.50', {
      mail: '<s@sender.test>',
      rcpts: ['<unknown1@x.test>', '<unknown2@x.test>', '<unknown3@x.test>', '<real@x.test>'],
    });
    await runSession(t, '192.0.2.51', { mail: '<s@sender.test>', rcpts: ['<unknown9@x.test>'] });
    expect(prints(t)).toEqual([
      'misses=1 net=1 v6=0',
      'misses=2 net=2 v6=0',
      'misses=3 net=3 v6=0',
      'misses=3 net=3 v6=0',
      'misses=1 net=4 v6=0',
    ]);
    expect(verdicts['rcpt2']).toMatchObject({ action: 'reject', code: 550, enhanced: '5.7.1' });
    expect(verdicts['rcpt3']).toMatchObject({ action: 'reject' });
    // Non-integer counts are truncated toward zero: 2.9 → 2 per RCPT, 5 RCPTs.
    expect(t.store.series.count('senders', 's@sender.test', 0, 9)).toBe(10);
    expect(t.store.series.info('bad_rcpt').options.persist).toBe(true);
  });

  it('keeps series data when init re-defines the same shape on reload', async () => {
    const t = await testEngine({ scripts: { 'dha.lua': DHA } });
    await runSession(t, '192.0.2.60', { mail: '<s@s.test>', rcpts: ['<unknown@x.test>'] });
    t.write('dha.lua', DHA + '\n-- edited\n');
    const r = await t.engine.reload('test');
    expect(r).toMatchObject({ ok: true, unchanged: false });
    expect(t.store.series.count('bad_rcpt', parseCidr('192.0.2.60'), 0, 11)).toBe(1);
  });

  it('supports string keys, negative adds and remove_item', async () => {
    const t = await testEngine({
      scripts: {
        's.lua': `local m = {}
function m:init() msys.audit_series.define("tags", "string", 60, 3) msys.audit_series.define("ips", "cidr", 60, 3) return true end
function m:validate_connect(ac, vctx)
  msys.audit_series.add("tags", { key = "alpha", count = 5 })
  msys.audit_series.add("tags", { key = "alpha", count = -2 })
  msys.audit_series.add("ips", "10.1.2.3")
  msys.audit_series.add("ips")
  print(msys.audit_series.count("tags", "alpha") .. " " .. msys.audit_series.count("ips", "10.1.2.0/24") .. " " .. msys.audit_series.count("ips"))
  print(tostring(msys.audit_series.remove_item("ips", "10.1.2.3")) .. " " .. msys.audit_series.count("ips", "10.1.2.0/24"))
  msys.audit_series.remove_item("ips")
  print(msys.audit_series.count("ips") .. " " .. tostring(msys.audit_series.remove_item("tags", "zeta")))
  return msys.core.VALIDATE_CONT
end
msys.registerModule("s", m)`,
      },
    });
    await runSession(t, '10.1.2.99');
    expect(prints(t)).toEqual(['3 2 1', 'true 1', '0 false']);
  });

  it('treats a wrong-family peer as a no-op on an IPv4 series (spec §14 #12)', async () => {
    const t = await testEngine({ scripts: { 'dha.lua': DHA } });
    await runSession(t, '2001:db8::5', { mail: '<s@s.test>', rcpts: ['<unknown@x.test>'] });
    expect(prints(t)).toEqual(['misses=0 net=0 v6=1']);
    expect(t.store.series.count('bad_rcpt6', parseCidr('2001:db8::/64'), 0, 11)).toBe(1);
  });

  const errors: [string, RegExp][] = [
    ['msys.audit_series.define("x", "bogus", 60, 2)', /must be one of cidr, cidr_ipv6, string/],
    ['msys.audit_series.define("x", "cidr", 0, 2)', /interval\) must be a positive integer/],
    ['msys.audit_series.define("x", "cidr", 60, 2.5)', /num_windows\) must be a positive integer/],
    ['msys.audit_series.define("x", "cidr", 60, 2, { replicate = "everyone" })', /replicate/],
    ['msys.audit_series.define(undefined_name, "cidr", 60, 2)', /argument 1 \(name\) must be a string, got nil/],
    ['msys.audit_series.add("tags", { key = ac })', /string series: key must be a string, got userdata/],
    ['msys.audit_series.add("tags")', /key must be a string, got no value/],
    ['msys.audit_series.add("ips", "10.0.0.0/8")', /10\.0\.0\.0\/8/],
    ['msys.audit_series.add("missing")', /missing/],
  ];
  for (const [call, message] of errors) {
    it(`rejects ${call}`, async () => {
      const t = await testEngine({
        scripts: {
          'e.lua': `local m = {}
function m:init() msys.audit_series.define("tags", "string", 60, 3) msys.audit_series.define("ips", "cidr", 60, 3) return true end
function m:validate_connect(ac, vctx) local ok, err = pcall(function() ${call} end) print(tostring(ok) .. " " .. tostring(err)) return 0 end
msys.registerModule("e", m)`,
        },
      });
      await runSession(t, '10.9.9.9');
      const [out] = prints(t);
      expect(out).toMatch(/^false /);
      expect(out).toMatch(message);
    });
  }
});
