import { describe, expect, it } from 'vitest';
import { parseAddress } from '../../src/audit/address.ts';
import { LEVELS } from '../../src/log.ts';
import { logs, runSession, testEngine, type TestEngine } from '../helpers/engine.ts';

/** Runs `expr` in validate_connect of a session from `from` and returns what it printed. */
async function evalAt(t: TestEngine, from: string, expr: string): Promise<string> {
  t.write('probe.lua', `local m = {}
function m:validate_connect(ac, vctx) print(${expr}) return msys.core.VALIDATE_CONT end
msys.registerModule("probe", m)`);
  const r = await t.engine.reload('test');
  if (!r.ok) throw r.error;
  const before = t.records.length;
  await runSession(t, from);
  const out = t.records.slice(before).filter((x) => x.script_print);
  return out.map((x) => x.msg).join('\n');
}

async function probeEngine(): Promise<TestEngine> {
  return testEngine({
    scripts: { 'probe.lua': 'local m = {} function m:validate_connect() return 0 end msys.registerModule("probe", m)' },
  });
}

describe('msys.audit', () => {
  it('sums connections over a window range, per address and per CIDR', async () => {
    const t = await probeEngine();
    for (const ip of ['198.51.100.5', '198.51.100.5', '198.51.100.5', '198.51.100.77']) t.store.record('connections', parseAddress(ip));
    t.clock.advance(300_000);
    t.store.record('connections', parseAddress('198.51.100.77'));
    // The probing session itself is counted at accept (window 0).
    expect(await evalAt(t, '198.51.100.77', 'msys.audit.connections("300,6")')).toBe('2');
    expect(await evalAt(t, '198.51.100.77', 'msys.audit.connections("300,6", {startv = 0, endv = 1})')).toBe('4');
    expect(await evalAt(t, '198.51.100.77', 'msys.audit.connections("300,6", {cidr = "/24", startv = 0, endv = 5})')).toBe('8');
    // Non-table shorthand = cidr; reversed bounds are swapped; out-of-range clamped.
    expect(await evalAt(t, '198.51.100.77', 'msys.audit.connections("300,6", "198.51.100.5")')).toBe('0');
    expect(await evalAt(t, '198.51.100.77', 'msys.audit.connections("300,6", {cidr = "198.51.100.5", startv = 9, endv = 1})')).toBe('3');
    expect(await evalAt(t, '198.51.100.77', 'msys.audit.connections("300,6", {cidr = "198.51.100.0/24", endv = 1})')).toBe('11');
  });

  it('reads window options as numbers or numeric strings, refuses anything else by name, and leaves the stack as it was', async () => {
    const t = await probeEngine();
    const peer = parseAddress('198.51.100.9');
    t.store.record('connections', peer);
    t.clock.advance(300_000);
    // Windows 0..1 hold this session and the one recorded before.
    expect(await evalAt(t, '198.51.100.9', 'msys.audit.connections("300,6", {startv = "0", endv = "1"})')).toBe('2');
    expect(await evalAt(t, '198.51.100.9', 'select("#", msys.audit.connections("300,6", {startv = 0, endv = 1, cluster = false}))')).toBe('1');
    // Options a table inherits through __index count as its own (the in-place read is only for plain tables).
    expect(await evalAt(t, '198.51.100.9', 'msys.audit.connections("300,6", setmetatable({}, {__index = {startv = 0, endv = 1}}))')).toBe('4');
    const refused = (expr: string): Promise<string> => evalAt(t, '198.51.100.9', `select(2, pcall(function() return ${expr} end))`);
    expect(await refused('msys.audit.connections("300,6", {startv = "soon"})')).toMatch(/option 'startv' must be a number, got string/);
    expect(await refused('msys.audit.connections("300,6", {endv = true})')).toMatch(/option 'endv' must be a number, got boolean/);
    expect(await refused('msys.audit.connections("300,6", {endv = 0/0})')).toMatch(/option 'endv' must be a finite number, got NaN/);
  });

  it('counts rejections and receptions through the same API, as integers', async () => {
    const t = await probeEngine();
    const peer = parseAddress('203.0.113.1');
    for (let i = 0; i < 5; i++) t.store.record('rejections', peer);
    for (let i = 0; i < 7; i++) t.store.record('receptions', peer);
    expect(await evalAt(t, '203.0.113.1', '"rej=" .. msys.audit.rejections("300,6") .. " rec=" .. msys.audit.receptions("1800,4")')).toBe('rej=5 rec=7');
  });

  it('answers cluster = true with local figures and warns once', async () => {
    const t = await probeEngine();
    expect(await evalAt(t, '203.0.113.2', 'msys.audit.connections("300,6", {cluster = true})')).toBe('1');
    expect(await evalAt(t, '203.0.113.2', 'msys.audit.connections("300,6", {cluster = true})')).toBe('2');
    expect(logs(t.records, 'cluster = true on a single node', LEVELS.warn)).toHaveLength(1);
  });

  it('has no msys.audit.connection alias unless the compat switch is on', async () => {
    const t = await probeEngine();
    expect(await evalAt(t, '192.0.2.1', 'type(msys.audit.connection)')).toBe('nil');
    const compat = await testEngine({
      scripts: { 'probe.lua': 'local m = {} function m:validate_connect() return 0 end msys.registerModule("probe", m)' },
      scriptOptions: { compatConnectionAlias: true },
    });
    expect(await evalAt(compat, '192.0.2.1', 'msys.audit.connection("300,6")')).toBe('1');
  });

  it('counts live sessions per CIDR and service with inbound_session_count', async () => {
    const t = await probeEngine();
    const held = [
      t.engine.openSession({ remote: { address: '192.0.2.10', port: 1 } }),
      t.engine.openSession({ remote: { address: '192.0.2.11', port: 1 } }),
    ];
    expect(await evalAt(t, '192.0.2.10', 'msys.audit.inbound_session_count("/32", "SMTP")')).toBe('2');
    expect(await evalAt(t, '192.0.2.10', 'msys.audit.inbound_session_count("/24")')).toBe('3');
    expect(await evalAt(t, '192.0.2.10', 'msys.audit.inbound_session_count("/24", "Control")')).toBe('0');
    expect(await evalAt(t, '192.0.2.10', 'msys.audit.inbound_session_count("/24", "NoSuchService")')).toBe('0');
    expect(await evalAt(t, '192.0.2.10', 'ac:inbound_session_count() .. " " .. ac:inbound_session_count("/24") .. " " .. ac:pbp_inbound_session_count_service("SMTP", "/0")')
).toBe('1 3 3'); // no args: this listener only
    for (const s of held) s.close('quit');
    expect(await evalAt(t, '192.0.2.10', 'msys.audit.inbound_session_count("/24")')).toBe('1');
  });
});
