import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LEVELS } from '../../src/log.ts';
import { logs, runSession, testEngine } from '../helpers/engine.ts';
import { waitUntil } from '../helpers/wait.ts';

const policy = (code: number, extra = '') => `local m = {}
${extra}
function m:validate_connect(ac, vctx)
  vctx:set_code(${code}, "5.7.1 policy ${code}")
  return msys.core.VALIDATE_DONE
end
msys.registerModule("gate", m)`;

describe('script generations and reload', () => {
  it('keeps the live generation when a reload hits a syntax error, reporting file:line', async () => {
    const t = await testEngine({ scripts: { 'gate.lua': policy(550) } });
    t.write('gate.lua', 'local m = {}\nfunction m:validate_connect(ac, vctx)\n  if x then\nend\nmsys.registerModule("gate", m)\n');
    const r = await t.engine.reload('test');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe('MW_ERR_SCRIPT_LOAD');
    expect(r.error.script).toBe('gate.lua');
    expect(r.error.line).toBeGreaterThanOrEqual(5);
    expect(r.error.message).toMatch(/gate\.lua:\d+:/);
    expect(t.engine.status()).toMatchObject({ generation: 1, lastReloadError: expect.stringMatching(/gate\.lua/) });
    const [line] = logs(t.records, 'reload failed; keeping the live generation', LEVELS.error);
    expect(line).toMatchObject({ script: 'gate.lua' });
    const { verdicts } = await runSession(t, '192.0.2.1');
    expect(verdicts['connect']).toMatchObject({ code: 550 });
  });

  it('fails the build when init errors, returns non-true, or a module is missing', async () => {
    const cases: [Record<string, string>, string[], RegExp][] = [
      [{ 'gate.lua': policy(550, 'function m:init() error("no db") end') }, ['gate'], /no db/],
      [{ 'gate.lua': policy(550, 'function m:init() return 1 end') }, ['gate'], /init returned 1, expected true/],
      [{ 'gate.lua': policy(550, 'require("helpers.missing")') }, ['gate'], /helpers\.missing/],
      [{ 'gate.lua': 'local m = {} function m.helper() end msys.registerModule("gate", m)' }, ['gate'], /no usable methods found for module gate/],
      [{ 'gate.lua': 'return {}' }, ['gate'], /did not call msys\.registerModule/],
    ];
    for (const [files, modules, message] of cases) {
      const t = await testEngine({ scripts: { 'gate.lua': policy(550) } });
      for (const [f, text] of Object.entries(files)) t.write(f, text);
      const r = await t.engine.reload('test');
      expect(r.ok, String(message)).toBe(false);
      if (!r.ok) expect(r.error.message).toMatch(message);
      expect(t.engine.status().generation).toBe(1);
      void modules;
    }
  });

  it('fails the rebuild when a configured module file is deleted, and keeps serving', async () => {
    const t = await testEngine({ scripts: { 'gate.lua': policy(550), 'other.lua': policy(551).replace('"gate"', '"other"') } });
    rmSync(join(t.dir, 'other.lua'));
    const r = await t.engine.reload('test');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toMatch(/other/);
    expect((await runSession(t, '192.0.2.1')).verdicts['connect']).toMatchObject({ code: 550 });
  });

  it('skips a rebuild when the content is unchanged and the reload came from the file watcher', async () => {
    const t = await testEngine({ scripts: { 'gate.lua': policy(550) } });
    t.write('gate.lua', policy(550));
    expect(await t.engine.reload('file change: gate.lua', { ifChanged: true })).toEqual({ ok: true, generation: 1, unchanged: true });
  });

  it('rebuilds a fresh generation on an explicit reload even when the content is unchanged', async () => {
    const t = await testEngine({
      scripts: {
        'gate.lua': `local m = {}
function m:validate_connect(ac, vctx)
  hits = (hits or 0) + 1
  vctx:set_code(550, "5.7.1 hit " .. hits)
  return msys.core.VALIDATE_DONE
end
msys.registerModule("gate", m)`,
      },
    });
    await runSession(t, '192.0.2.1');
    expect((await runSession(t, '192.0.2.1')).verdicts['connect']).toMatchObject({ text: 'hit 2' });
    expect(await t.engine.reload('console')).toEqual({ ok: true, generation: 2, unchanged: false });
    // Module globals start over: the new generation ran the same scripts from scratch.
    expect((await runSession(t, '192.0.2.1')).verdicts['connect']).toMatchObject({ text: 'hit 1' });
  });

  it('pins sessions to the generation live at connect and releases the old one after its last session', async () => {
    const t = await testEngine({
      scripts: {
        'gate.lua': `local m = {}
function m:validate_rcptto(msg, str, ac, vctx) vctx:set_code(550, "5.1.1 old script") return msys.core.VALIDATE_DONE end
msys.registerModule("gate", m)`,
      },
    });
    const inflight = t.engine.openSession({ remote: { address: '192.0.2.1', port: 1 } });
    await inflight.connect();
    t.write('gate.lua', `local m = {}
function m:validate_rcptto(msg, str, ac, vctx) vctx:set_code(552, "5.2.2 new script") return msys.core.VALIDATE_DONE end
msys.registerModule("gate", m)`);
    expect(await t.engine.reload('test')).toMatchObject({ ok: true, generation: 2 });
    expect(t.engine.status().liveGenerations).toBe(2);

    await inflight.mailFrom('<a@b.test>');
    expect(await inflight.rcptTo('<c@d.test>')).toMatchObject({ code: 550, text: 'old script' });
    const fresh = await runSession(t, '192.0.2.2', { mail: '<a@b.test>', rcpts: ['<c@d.test>'] });
    expect(fresh.verdicts['rcpt0']).toMatchObject({ code: 552, text: 'new script' });
    expect(fresh.session.generation).toBe(2);
    expect(inflight.generation).toBe(1);

    inflight.close('quit');
    expect(t.engine.status().liveGenerations).toBe(1);
  });

  it('rebuilds when a watched script is saved', async () => {
    const t = await testEngine({ scripts: { 'gate.lua': policy(550) }, scriptOptions: { reloadDebounceMs: 20 } });
    await t.engine.watch();
    try {
      t.write('gate.lua', policy(554));
      await waitUntil(() => t.engine.status().generation !== 1, 'the save to go live');
      expect(t.engine.status().generation).toBe(2);
      expect((await runSession(t, '192.0.2.1')).verdicts['connect']).toMatchObject({ code: 554 });
      expect(logs(t.records, 'reload: new script generation live', LEVELS.info)[0]).toMatchObject({ generation: 2, reason: expect.stringMatching(/file change/) });
    } finally {
      await t.engine.close();
    }
  });

  it('picks up saves made back to back, inside chokidar\'s 50 ms change throttle', async () => {
    const t = await testEngine({ scripts: { 'gate.lua': policy(550) }, scriptOptions: { reloadDebounceMs: 10 } });
    await t.engine.watch();
    try {
      // Each save is made the moment the previous one went live, ~40 ms after chokidar
      // reported it: inside the window in which chokidar drops further change events.
      // A missed save never goes live at all; a slow machine only delays it, so the
      // wait has no tight bound.
      for (let round = 0; round < 20; round++) {
        const before = t.engine.status().generation;
        t.write('gate.lua', policy(551 + (round % 2)) + `-- ${round}\n`);
        await waitUntil(() => t.engine.status().generation !== before, `save ${round} to go live`, 10_000, 1);
      }
      expect((await runSession(t, '192.0.2.1')).verdicts['connect']!.code).toBe(552);
    } finally {
      await t.engine.close();
    }
  });

  it('serves 1,000 sessions while the scripts are rewritten 50 times, valid and broken in turn', async () => {
    const t = await testEngine({ scripts: { 'gate.lua': policy(550) }, overrides: { budget: { instructions: 200_000, wallMs: 50 } } });
    const versions = [
      () => policy(550),
      () => 'local m = {\nfunction m:validate_connect(', // syntax error: never goes live
      () => policy(553),
      () => policy(550).replace('vctx:set_code', 'error("runtime fault") vctx:set_code'), // faults at run time
      () => policy(550).replace('vctx:set_code', 'while true do end vctx:set_code'), // budget
    ];
    const seen = new Map<string, number>();
    let sessions = 0;
    for (let round = 0; round < 50; round++) {
      t.write('gate.lua', versions[round % versions.length]!() + `\n-- round ${round}\n`);
      const reload = t.engine.reload(`round ${round}`);
      // A hung session shows as this test's timeout; no per-batch wall-clock bound.
      const batch = Array.from({ length: 20 }, (_, i) => runSession(t, `10.0.${round}.${i + 1}`).then((r) => r.verdicts['connect']!));
      const verdicts = await Promise.all(batch);
      await reload;
      for (const v of verdicts) {
        const key = `${v.action} ${v.code}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
        expect(['reject 550', 'reject 553', 'tempfail 451']).toContain(key);
      }
      sessions += verdicts.length;
    }
    expect(sessions).toBe(1000);
    expect(seen.get('tempfail 451')).toBeGreaterThan(0);
    expect(seen.get('reject 553')).toBeGreaterThan(0);
    expect(t.engine.status()).toMatchObject({ openSessions: 0, liveGenerations: 1 });
  }, 120_000);
});
