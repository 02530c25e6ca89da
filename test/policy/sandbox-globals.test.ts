import { describe, expect, it } from 'vitest';
import { SANDBOX_GLOBALS } from '../../src/lua/sandbox.ts';
import { CORE_CONSTANTS } from '../../src/msys/constants.ts';
import { runSession, testEngine } from '../helpers/engine.ts';

/** Every name a policy can reach from _G (tables walked once, functions and values as leaves). */
const WALK = `local m = {}
function m:validate_connect(ac, vctx)
  local seen, out = {}, {}
  local function walk(t, prefix)
    if seen[t] then return end
    seen[t] = true
    for k, v in pairs(t) do
      if type(k) == "string" then
        local name = prefix == "" and k or (prefix .. "." .. k)
        out[#out + 1] = name
        if type(v) == "table" and k ~= "_G" and k ~= "loaded" then walk(v, name) end
      end
    end
  end
  walk(_G, "")
  table.sort(out)
  print(table.concat(out, " "))
  return msys.core.VALIDATE_CONT
end
msys.registerModule("walker", m)`;

describe('the sandbox of a real script generation', () => {
  it('exposes exactly the Lua allow-list plus the msys modules', async () => {
    const t = await testEngine({ scripts: { 'walker.lua': WALK } });
    await runSession(t, '192.0.2.1');
    const printed = t.records.filter((r) => r.script_print).map((r) => r.msg);
    const reachable = printed[0]!.split(' ');

    const lua = Object.entries(SANDBOX_GLOBALS).flatMap(([name, members]) =>
      members === true ? [name] : [name, ...members.map((m) => `${name}.${m}`)],
    );
    const msys = [
      'msys',
      'msys.registerModule',
      'msys.expandMacro',
      'msys.core',
      ...Object.keys(CORE_CONSTANTS).map((k) => `msys.core.${k}`),
      ...['get_now_ts', 'ec_sockaddr_family', 'accept_construct_get_message_construct', 'string_new', 'registerModule'].map((k) => `msys.core.${k}`),
      'msys.audit',
      ...['connections', 'receptions', 'rejections', 'inbound_session_count'].map((k) => `msys.audit.${k}`),
      'msys.audit_series',
      ...['define', 'add', 'count', 'remove_item'].map((k) => `msys.audit_series.${k}`),
      'msys.extended',
      'msys.extended.vctx',
      'msys.extended.ac',
      'msys.extended.message',
      // The Momentum compatibility packages (docs/compat.md).
      ...['dnsLookup', 'sleep', 'runInPool', 'policyeditor', 'extended.message_routing'].map((k) => `msys.${k}`),
      ...['ec_message_new', 'ECTP_COMPLETE_CALLBACK', 'ECTP_COMPLETE_CALLBACK_SCHED'].map((k) => `msys.core.${k}`),
      'msys.dumper', 'msys.dumper.Dumper',
      'msys.pcre', ...['match', 'replace', 'split'].map((k) => `msys.pcre.${k}`),
      'msys.cidr', ...['define', 'query', 'reload'].map((k) => `msys.cidr.${k}`),
      'msys.pbp', ...['set_whitelist', 'check_whitelist', 'fcdns_check', 'size_in_bytes'].map((k) => `msys.pbp.${k}`),
      'thread', ...['mutex', 'MUTEX_NORMAL', 'MUTEX_RECURSIVE', 'MUTEX_ERRORCHECK'].map((k) => `thread.${k}`),
    ];
    expect(new Set(reachable)).toEqual(new Set([...lua, ...msys]));
    for (const banned of ['os.execute', 'os.exit', 'io', 'io.popen', 'debug', 'package.loadlib', 'dofile', 'loadfile', 'string.dump']) {
      expect(reachable).not.toContain(banned);
    }
  });
});
