/**
 * Engine.reconfigure (what a config reload calls): new options go live with
 * the generation built from them, atomically; a build that fails leaves the
 * running options and generation; an unchanged config is a plain reload.
 */
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EngineOptions } from '../../src/policy/engine-options.ts';
import { testEngine } from '../helpers/engine.ts';

const FAULTY = `require("msys.core")\nlocal m = {}\nfunction m:validate_connect(ac, vctx)\n  error("boom")\nend\nmsys.registerModule("faulty", m)\n`;
const OTHER = `require("msys.core")\nlocal m = {}\nfunction m:validate_connect(ac, vctx)\n  vctx:set_code(554, "5.7.1 other")\n  return msys.core.VALIDATE_DONE\nend\nmsys.registerModule("other", m)\n`;

describe('Engine.reconfigure', () => {
  it('switches failure mode and module list together with the new generation', async () => {
    const t = await testEngine({ scripts: { 'faulty.lua': FAULTY, 'other.lua': OTHER }, modules: ['faulty'] });
    const opts = (t.engine as unknown as { opts: EngineOptions }).opts;
    const connect = async (): Promise<unknown> => {
      const s = t.engine.openSession({ remote: { address: '192.0.2.1', port: 1 } });
      const v = await s.connect();
      s.close('quit');
      return v;
    };
    expect(await connect()).toMatchObject({ action: 'tempfail', code: 451 });
    const r = await t.engine.reconfigure({ ...opts, failureMode: { action: 'reject', code: 554, enhanced: '5.3.0', text: 'broken' } }, 'test');
    expect(r).toMatchObject({ ok: true, generation: 2, unchanged: false });
    expect(await connect()).toMatchObject({ action: 'reject', code: 554, text: 'broken' });

    // A module list naming a script that does not build: nothing changes, not even the failure mode.
    t.write('broken.lua', 'local = 1');
    const bad = await t.engine.reconfigure({ ...opts, scripts: { ...opts.scripts, modules: ['broken'] }, failureMode: { action: 'tempfail', code: 452, enhanced: '4.3.0', text: 'x' } }, 'test');
    expect(bad.ok).toBe(false);
    expect(t.engine.status()).toMatchObject({ generation: 2, scripts: ['faulty'] });
    expect(t.engine.status().lastReloadError).toMatch(/broken\.lua/);
    expect(await connect()).toMatchObject({ action: 'reject', code: 554 });

    // The broken file gone and the same options again: a plain reload, and the error is cleared.
    unlinkSync(join(t.dir, 'broken.lua'));
    const same = await t.engine.reconfigure({ ...opts, failureMode: { action: 'reject', code: 554, enhanced: '5.3.0', text: 'broken' } }, 'test');
    // An explicit reload always builds afresh (issue 16), even with nothing changed.
    expect(same).toMatchObject({ ok: true, unchanged: false });
    expect(t.engine.status().lastReloadError).toBeUndefined();

    const other = await t.engine.reconfigure({ ...opts, scripts: { ...opts.scripts, modules: ['other'] } }, 'test');
    expect(other).toMatchObject({ ok: true, unchanged: false });
    expect(await connect()).toMatchObject({ action: 'reject', code: 554, text: 'other' });
  });
});
