/**
 * `moonwatch check` and `moonwatch config`: every problem listed as
 * file:line, exit 0/1, nothing served and no state touched; the effective
 * config with defaults filled and secrets masked, loadable as it is printed.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { main, type MainIo } from '../../src/cli/main.ts';
import { parseConfig } from '../../src/config/load.ts';
import { missingBuiltins, msysBuiltinNames } from '../../src/cli/builtins.ts';

function io(): { io: MainIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, signals: { on: () => undefined, off: () => undefined } },
    out: () => out,
    err: () => err,
  };
}

const GOOD = `require("msys.core")\nlocal m = {}\nfunction m:init()\n  msys.audit_series.define("seen", "cidr", 60, 6)\n  return true\nend\nfunction m:validate_connect(ac, vctx)\n  if msys.audit.connections("60,10") > 100 then vctx:set_code(421, "4.7.0 busy") return msys.core.VALIDATE_DONE end\n  return msys.core.VALIDATE_CONT\nend\nmsys.registerModule("good", m)\n`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mw-check-'));
  mkdirSync(join(dir, 's'));
  writeFileSync(join(dir, 's', 'good.lua'), GOOD);
  writeFileSync(join(dir, 's', 'syntax.lua'), 'local m = {}\nfunction m:validate_connect(ac, vctx)\n  return 1 +\nend\n');
  writeFileSync(join(dir, 's', 'badinit.lua'), 'local m = {}\nfunction m:init()\n  error("no database")\nend\nfunction m:validate_connect() return 0 end\nmsys.registerModule("badinit", m)\n');
  writeFileSync(join(dir, 's', 'noreg.lua'), 'local x = 1\n');
  writeFileSync(join(dir, 's', 'unknown.lua'), 'require("msys.core")\nlocal m = {}\n-- msys.commented.out is fine\nfunction m:validate_connect(ac, vctx)\n  local s = "msys.in.a.string"\n  local r = msys.db.query("select 1")\n  return msys.core.VALIDATE_CONT\nend\nmsys.registerModule("unknown", m)\n');
  writeFileSync(join(dir, 'good.yaml'), `listen: ["127.0.0.1:0"]\ninbound_audit:\n  monitors: ["60,10"]\n  serialize_dir: state\nscripts:\n  dir: s\n  modules: [good]\ncontrol:\n  socket: ${join(dir, 'ctl.sock')}\n  tcp: 127.0.0.1:0\n  token: a-very-secret-token-1234\n`);
  writeFileSync(join(dir, 'bad.yaml'), 'listen: ["127.0.0.1:0"]\nscripts:\n  dir: s\n  modules:\n    - good\n    - syntax\n    - badinit\n    - noreg\n    - unknown\n    - missing\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('moonwatch check', () => {
  it('exits 0 on a good config, having compiled the scripts and run init, with no socket, listener or state file left behind', async () => {
    const t = io();
    expect(await main(['check', '--config', join(dir, 'good.yaml')], t.io)).toBe(0);
    expect(t.out()).toMatch(/moonwatch check: .*good\.yaml OK \(1 scripts compiled, init ran\)/);
    expect(existsSync(join(dir, 'ctl.sock'))).toBe(false);
    expect(existsSync(join(dir, 'state'))).toBe(false);
  });

  it('lists every problem as file:line and exits 1', async () => {
    const t = io();
    expect(await main(['check', '-c', join(dir, 'bad.yaml')], t.io)).toBe(1);
    const lines = t.out().trim().split('\n');
    const at = (re: RegExp): string | undefined => lines.find((l) => re.test(l));
    expect(at(/bad\.yaml:10: scripts\.modules: "missing": no file .*missing\.lua/)).toBeDefined();
    expect(at(/s\/syntax\.lua:4: unexpected symbol near 'end'/)).toBeDefined();
    expect(at(/s\/badinit\.lua:3: badinit:init: no database/)).toBeDefined();
    expect(at(/s\/noreg\.lua: script 'noreg' did not call msys\.registerModule/)).toBeDefined();
    expect(at(/s\/unknown\.lua:6: msys\.db\.query is not provided by moonwatch/)).toBeDefined();
    expect(lines.at(-1)).toBe('moonwatch check: 5 problems');
  });

  it('reports a config error with file:line and exits 1', async () => {
    writeFileSync(join(dir, 'typo.yaml'), 'listen: ["127.0.0.1:0"]\nscripts:\n  dir: s\n  modules: [good]\nlimits:\n  max_erors: 3\n');
    const t = io();
    expect(await main(['check', '--config', join(dir, 'typo.yaml')], t.io)).toBe(1);
    expect(t.out()).toMatch(/typo\.yaml:6: limits.*max_erors/);
  });

  it('says where it looked when there is no --config and no default config', async () => {
    const t = io();
    const cwd = process.cwd();
    const saved = process.env.MOONWATCH_CONFIG;
    process.env.MOONWATCH_CONFIG = join(dir, 'nowhere.yaml');
    process.chdir(dir);
    try {
      expect(await main(['check'], t.io)).toBe(2);
    } finally {
      process.chdir(cwd);
      if (saved === undefined) delete process.env.MOONWATCH_CONFIG;
      else process.env.MOONWATCH_CONFIG = saved;
    }
    expect(t.err()).toContain(`no config at ${join(dir, 'nowhere.yaml')}, ${join(dir, 'moonwatch.yaml')}, /etc/moonwatch/moonwatch.yaml`);
  });

  it('passes every example config shipped in examples/', async () => {
    const configs = ['examples/moonwatch.yaml', 'examples/sieve.yaml', 'examples/compat/compat-alias.yaml', 'examples/cluster/node-a.yaml', 'examples/cluster/node-b.yaml'];
    for (const config of configs) {
      const t = io();
      expect(await main(['check', '--config', config], t.io), `${config}:\n${t.out()}`).toBe(0);
      expect(t.out()).toMatch(/OK \(\d+ scripts compiled, init ran\)/);
    }
  });

  it('knows the compatibility packages, and msys.audit.connection only with compat_connection_alias', () => {
    const known = msysBuiltinNames();
    for (const name of ['msys.cidr.define', 'msys.cidr.query', 'msys.dnsLookup', 'msys.pcre.match', 'msys.pbp.check_whitelist', 'msys.sleep']) {
      expect(known.has(name), name).toBe(true);
    }
    expect(known.has('msys.audit.connection')).toBe(false);
    expect(msysBuiltinNames({ compatConnectionAlias: true }).has('msys.audit.connection')).toBe(true);
  });

  it('finds msys names the host lacks, ignoring comments, strings and assignments', () => {
    const known = msysBuiltinNames();
    expect(known.has('msys.audit.connections')).toBe(true);
    expect(known.has('msys.audit_series.define')).toBe(true);
    const src = '-- msys.nope()\nlocal a = "msys.nope2"\nmsys.mine = {}\nlocal b = msys.audit.connections("60,10")\nlocal c = msys.audit.nope3()\n--[[ msys.nope4 ]]\n';
    expect(missingBuiltins(src, known)).toEqual([{ name: 'msys.audit.nope3', line: 5 }]);
  });
});

describe('moonwatch config', () => {
  it('prints the effective config with defaults filled in and the token masked, in a form that loads back the same', async () => {
    const t = io();
    expect(await main(['config', '--config', join(dir, 'good.yaml')], t.io)).toBe(0);
    const text = t.out();
    expect(text).not.toContain('a-very-secret-token-1234');
    const doc = parse(text) as Record<string, Record<string, unknown>>;
    expect(doc.control!.token).toBe('********');
    expect(doc.limits!.max_errors).toBe(20);
    expect(doc.budgets).toEqual({ instructions: 1_000_000, wall_ms: 20 });
    expect(doc.failure_mode!.code).toBe(451);
    expect(doc.scripts!.dir).toBe(join(dir, 's'));
    // With the real token put back, the dump is a config that loads to the same settings.
    const again = parseConfig(text.replace('"********"', 'a-very-secret-token-1234'), join(dir, 'again.yaml'));
    const first = parseConfig(`${'listen: ["127.0.0.1:0"]'}\ninbound_audit:\n  monitors: ["60,10"]\n  serialize_dir: state\nscripts:\n  dir: s\n  modules: [good]\ncontrol:\n  socket: ${join(dir, 'ctl.sock')}\n  tcp: 127.0.0.1:0\n  token: a-very-secret-token-1234\n`, join(dir, 'good.yaml'));
    expect({ ...again, file: '' }).toEqual({ ...first, file: '' });
    expect(readdirSync(dir)).not.toContain('state');
  });

  it('exits 1 with the file:line of a bad config', async () => {
    const t = io();
    expect(await main(['config', '--config', join(dir, 'typo.yaml')], t.io)).toBe(1);
    expect(t.err()).toMatch(/bad config: .*typo\.yaml:6/);
  });
});
