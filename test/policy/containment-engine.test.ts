import { describe, expect, it } from 'vitest';
import { LEVELS } from '../../src/log.ts';
import { connectModule as module, logs, runSession, testEngine } from '../helpers/engine.ts';

describe('containment through the policy engine', () => {
  it('faults a hostile phase with the failure verdict and logs module, phase, script:line and the limit', async () => {
    const t = await testEngine({
      scripts: { 'spin.lua': module('spin', '  coroutine.wrap(function() pcall(error) while true do end end)()') },
      overrides: { budget: { instructions: 1e12, wallMs: 30 } },
    });
    const { verdicts } = await runSession(t, '192.0.2.7');
    expect(verdicts['connect']).toMatchObject({ action: 'tempfail', code: 451, fault: true });
    const [line] = logs(t.records, /^validate_connect error: /, LEVELS.error);
    expect(line).toMatchObject({ module: 'spin', phase: 'connect', script: 'spin.lua', line: 3, fault: 'budget', limit: 'wall-clock' });
    // Never logged as `continue`.
    const decision = t.records.find((r) => r.msg === 'phase decision' && r['phase'] === 'connect');
    expect(decision).toMatchObject({ verdict: 'tempfail', code: 451 });
    expect(t.engine.status().limitFaults).toEqual({ 'wall-clock': 1 });
  });

  it('retires a generation that hoards past its retained bound and rebuilds it from the same scripts', async () => {
    const t = await testEngine({
      scripts: {
        'hoard.lua': module(
          'hoard',
          `  hoard = hoard or {}
  for i = 1, 2000 do hoard[#hoard + 1] = string.rep("h", 100) .. #hoard end
  vctx:set_code(550, "5.7.1 kept " .. #hoard)`,
        ),
      },
      overrides: { maxRetainedBytes: 1024 * 1024, budget: { instructions: 1e9, wallMs: 10_000 } },
    });
    const texts: string[] = [];
    for (let i = 0; i < 8; i++) texts.push(String((await runSession(t, '192.0.2.8')).verdicts['connect']?.text));
    // 2000 entries of ~110 bytes + 32 + 80 each: the bound is passed within a few sessions, the
    // generation is retired, and the fresh one starts the hoard again.
    expect(texts[0]).toBe('kept 2000');
    const status = t.engine.status();
    expect(status.memoryRetirements).toBeGreaterThan(0);
    expect(status.generation).toBeGreaterThan(1);
    expect(texts).toContain('kept 2000');
    expect(texts.filter((x) => x === 'kept 2000').length).toBeGreaterThan(1);
    const [retired] = logs(t.records, /retained more than its memory bound; retired and rebuilt/, LEVELS.warn);
    expect(retired).toMatchObject({ generation: 1, replacement: 2, limit: 'retained-memory', limit_bytes: 1024 * 1024 });
    expect(retired!['retained_bytes']).toBeGreaterThan(1024 * 1024);
  });

  it('faults a phase that allocates past the per-call bound and counts it', async () => {
    const t = await testEngine({
      scripts: { 'grow.lua': module('grow', '  local s = "x" while true do s = s .. s end') },
      overrides: { budget: { instructions: 1e12, wallMs: 60_000 } },
    });
    const { verdicts } = await runSession(t, '192.0.2.9');
    expect(verdicts['connect']).toMatchObject({ action: 'tempfail', fault: true });
    const [line] = logs(t.records, /^validate_connect error: /, LEVELS.error);
    expect(line).toMatchObject({ module: 'grow', script: 'grow.lua', line: 3, limit: 'memory' });
    expect(t.engine.status().limitFaults).toEqual({ memory: 1 });
    // The process and the generation are fine: the next session runs (and faults the same way).
    expect((await runSession(t, '192.0.2.9')).verdicts['connect']).toMatchObject({ fault: true });
  });
});
