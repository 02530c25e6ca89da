import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSession, testEngine } from '../helpers/engine.ts';
import { faultLines, prints, runConnect } from './helpers.ts';

const RBL = `# sample list
; another comment
$TTL 300
:127.0.0.2:Listed, see http://rbl.test/?$
192.0.2.0/24
192.0.2.7 :127.0.0.4:Seven $
!192.0.2.9
198.51.100 Short form
203.0.113.10-20 :127.0.0.5
2001:db8::/32 :127.0.0.6:v6 $
10.0.0.1:127.0.0.3
not an entry
`;

describe('msys.cidr', () => {
  it('reads an rbldnsd file: defaults, CIDRs, exclusions, short forms, ranges, IPv6, A and TXT with interpolation', async () => {
    const { out } = await runConnect(
      `
  local q = msys.cidr.query
  print(q("a", "192.0.2.1"), q("a", "192.0.2.7"), q("a", "192.0.2.9"), q("a", "198.51.100.200"), q("a", "203.0.113.15"), q("a", "203.0.113.21"))
  print(q("a", "2001:db8::1"), q("a", "10.0.0.1"), q("a", "::ffff:192.0.2.1"), q("a"))
  print(q("t", "192.0.2.1"), q("t", "192.0.2.7"), q("t", "198.51.100.1"), q("t", "2001:db8::5"))
  print(q("e", "192.0.2.1"), q("e"))`,
      {
        init: `
  msys.cidr.define("a", { type = "rbldnsd", source = "lists/rbl.txt", default_value = "" , limits = { x = 1 } })
  msys.cidr.define("t", { type = "rbldnsd", source = "lists/rbl.txt", record_type = "TXT", optimize_hosts = true, interpolate = true })
  msys.cidr.define("e", "empty")`,
        files: { 'lists/rbl.txt': RBL },
        peer: '192.0.2.200',
      },
    );
    expect(out).toEqual([
      '127.0.0.2\t127.0.0.4\t\t127.0.0.2\t127.0.0.5\t',
      '127.0.0.6\t127.0.0.3\t127.0.0.2\t127.0.0.2',
      'Listed, see http://rbl.test/?192.0.2.1\tSeven 192.0.2.7\tShort form\tv6 2001:db8::5',
      'nil\tnil',
    ]);
  });

  it('reloads a changed list on msys.cidr.reload and on its refresh period', async () => {
    const { t, out } = await runConnect(`print(msys.cidr.query("r", "192.0.2.1"))`, {
      init: `msys.cidr.define("r", { type = "rbldnsd", source = "r.txt", refresh = 60, default_value = "none" })`,
      files: { 'r.txt': '192.0.2.1 :127.0.0.2\n', 'reload.lua': '' },
    });
    expect(out).toEqual(['127.0.0.2']);
    writeFileSync(join(t.dir, 'r.txt'), '192.0.2.1 :127.0.0.9\n');
    // Not due yet: the loaded list stays.
    await runSession(t, '192.0.2.1');
    t.clock.advance(61_000);
    await runSession(t, '192.0.2.1');
    expect(prints(t)).toEqual(['127.0.0.2', '127.0.0.2', '127.0.0.9']);
  });

  it('supports datasource lists read from a CSV source, and reload answers true', async () => {
    const { out } = await runConnect(`print(msys.cidr.query("d", "10.1.2.3"), msys.cidr.query("d", "10.9.9.9"), msys.cidr.query("v", "10.1.2.3"), msys.cidr.reload("d"))`, {
      init: `msys.cidr.define("d", { type = "datasource", source = "nets.csv", cidr_column = "net", value_column = "label" })
  msys.cidr.define("v", { type = "datasource", source = "nets.csv", cidr_column = 1 })`,
      files: { 'nets.csv': 'net,label\n10.1.0.0/16,office\n' },
    });
    expect(out).toEqual(['office\tnil\ttrue\ttrue']);
  });

  it('raises clear errors for unknown names, bad types, missing sources and bad addresses', async () => {
    const cases: [string, string][] = [
      [`msys.cidr.query("nope", "1.2.3.4")`, "msys.cidr.query: no CIDR list named 'nope'"],
      [`msys.cidr.define("x", { type = "bogus" })`, "option 'type' must be one of empty, rbldnsd, datasource, got 'bogus'"],
      [`msys.cidr.define("x", "rbldnsd")`, 'only "empty" may be given alone'],
      [`msys.cidr.define("x", { type = "rbldnsd" })`, "type 'rbldnsd' needs option 'source'"],
      [`msys.cidr.define("x", { type = "rbldnsd", source = "missing.txt" })`, "cannot load rbldnsd source"],
      [`msys.cidr.define("x", { type = "rbldnsd", source = "http://lists.test/x" })`, 'only file sources are supported'],
      [`msys.cidr.define("x", { type = "datasource", cachename = "c", query = "select" })`, "Momentum's datasource caches (cachename/query) are not provided"],
      [`msys.cidr.define("x", "empty") msys.cidr.query("x", "not-an-ip")`, "argument 2 (address) is not an IP address: 'not-an-ip'"],
    ];
    for (const [code, message] of cases) {
      const { t, verdict } = await runConnect(code);
      expect(verdict).toMatchObject({ action: 'tempfail' });
      expect(faultLines(t)[0]).toContain(message);
    }
  });
});

describe('msys.pbp', () => {
  it('sets and checks whitelists in both call shapes and converts sizes', async () => {
    const { out } = await runConnect(`
  local pbp = msys.pbp
  print(pbp.check_whitelist(vctx, { "rbl" }), pbp.check_whitelist(vctx, { honor_whitelist = { "rbl" } }), pbp.check_whitelist(vctx, {}), pbp.check_whitelist(vctx, nil))
  pbp.set_whitelist(vctx, msys.core.VCTX_CONN, "rbl", true)
  pbp.set_whitelist(vctx, "fcdns", true)
  pbp.set_whitelist(vctx, msys.core.VCTX_MESS, "mess", true)
  print(vctx:get(msys.core.VCTX_CONN, "dp_whitelist_rbl"), vctx:get(msys.core.VCTX_CONN, "dp_whitelist_fcdns"))
  print(pbp.check_whitelist(vctx, { "rbl" }), pbp.check_whitelist(vctx, { honor_whitelist = { "x", "fcdns" } }), pbp.check_whitelist(vctx, { "other" }))
  print(pbp.size_in_bytes("30m"), pbp.size_in_bytes("2K"), pbp.size_in_bytes("10b"), pbp.size_in_bytes("123"), pbp.size_in_bytes(5))
  print(pcall(pbp.size_in_bytes, "lots"))
  print(pcall(pbp.set_whitelist, "notvctx", "x", true))`);
    expect(out[0]).toBe('false\tfalse\tfalse\tfalse');
    expect(out[1]).toBe('true\ttrue');
    expect(out[2]).toBe('true\ttrue\tfalse');
    expect(out[3]).toBe('31457280\t2048\t10\t123\t5');
    expect(out[4]).toMatch(/^false\t.*cannot read size 'lots'/);
    expect(out[5]).toMatch(/^false\t.*argument 1 \(vctx\) must be a vctx, got string/);
  });
});

describe('Momentum built-ins moonwatch does not provide', () => {
  it('says so at require time', async () => {
    const { t } = await runConnect(`local name = "msys." .. "db" require(name)`);
    expect(faultLines(t)[0]).toContain('msys.db is a Momentum built-in that moonwatch does not provide');
  });

  it('lists every missing built-in of every script when the generation builds', async () => {
    const err = await testEngine({
      scripts: {
        'a.lua': 'require("msys.core")\nrequire("msys.db")\nlocal m = {} function m:validate_connect() return 0 end msys.registerModule("a", m)',
        'b.lua': 'local lib = require("lib.helper")\nlocal m = {} function m:validate_connect() return 0 end msys.registerModule("b", m)',
        'lib/helper.lua': '-- helper\nrequire "msys.datasource"\nreturn {}',
      },
      modules: ['a', 'b'],
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'MW_ERR_SCRIPT_LOAD' });
    const message = (err as Error).message;
    expect(message).toContain('a.lua:2: msys.db is a Momentum built-in that moonwatch does not provide');
    expect(message).toContain('lib/helper.lua:2: msys.datasource is a Momentum built-in that moonwatch does not provide');
  });
});
