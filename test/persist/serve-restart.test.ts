import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { serve, smtpTouch } from '../console/lib/serve-harness.ts';

const LUA = `
require("msys.audit_series")
local p = {}
function p:init()
  msys.audit_series.define("bad", "cidr", 3600, 4, { persist = true })
  return true
end
msys.registerModule("policy", p)
`;

const PERSIST_MONITORS = ['persist_monitors: true'];

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mw-restart-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('moonwatch serve keeps persisted counters across a restart', () => {
  it('saves on SIGTERM and restores at the next start, monitors included when asked', async () => {
    const first = await serve(dir, { lua: LUA, auditSettings: PERSIST_MONITORS });
    const port = first.smtpPort;
    await smtpTouch(port);
    expect(await first.run('inbound_audit add bad 3600,4 192.0.2.1 7')).toEqual(['OK bad 192.0.2.1 7']);
    expect(await first.stop()).toBe(0);
    expect(existsSync(join(dir, 'state', 'bad.series'))).toBe(true);
    expect(existsSync(join(dir, 'ctl.sock'))).toBe(false);

    const second = await serve(dir, { lua: LUA, auditSettings: PERSIST_MONITORS });
    try {
      expect(await second.run('inbound_audit count_cidr 192.0.2.0/24 bad 3600,4 0 3')).toEqual(['7']);
      const show = await second.run('inbound_audit show ip 127.0.0.1');
      // The 300 s monitor still holds the connection made before the restart (window 0 or 1).
      expect(show.filter((l) => /^Connections 300\/[01]: 1$/.test(l))).toHaveLength(1);
    } finally {
      expect(await second.stop()).toBe(0);
    }
  }, 20_000);

  it('sets a corrupt file aside and starts, or refuses to start under --strict', async () => {
    const first = await serve(dir, { lua: LUA });
    await first.run('inbound_audit add bad 3600,4 192.0.2.1 7');
    await first.stop();
    const path = join(dir, 'state', 'bad.series');
    writeFileSync(path, readFileSync(path).subarray(0, 50));

    const strict = await serve(dir, { lua: LUA, args: ['--strict'] });
    expect(await strict.done).toBe(1);
    expect(strict.stderr()).toMatch(/could not start: saved audit series "bad" .* is unusable/);
    expect(readdirSync(join(dir, 'state'))).toEqual(['bad.series']);

    const lenient = await serve(dir, { lua: LUA });
    try {
      expect(await lenient.run('inbound_audit count_cidr 192.0.2.0/24 bad 3600,4 0 3')).toEqual(['0']);
      expect(readdirSync(join(dir, 'state')).some((f) => f.startsWith('bad.series.corrupt-'))).toBe(true);
    } finally {
      expect(await lenient.stop()).toBe(0);
    }
  }, 20_000);
});
