import { describe, expect, it } from 'vitest';
import { connectModule as module, runSession, testEngine } from '../helpers/engine.ts';

/**
 * Issue 16: the process's memory stays bounded whatever the scripts do: a
 * generation hoarding in globals is retired at its retained bound, a phase
 * building giant strings faults at its per-call bound. RSS growth over a few
 * hundred such sessions stays under 200 MB and nothing crashes.
 */
describe('containment: process memory under hoarding and giant-string scripts', () => {
  it('keeps RSS growth under 200 MB', async () => {
    const t = await testEngine({
      scripts: {
        'hoard.lua': module(
          'hoard',
          `  hoard = hoard or {}
  for i = 1, 5000 do hoard[#hoard + 1] = string.rep("h", 400) .. #hoard end
  local s = "x" for i = 1, 40 do s = s .. s end`,
        ),
      },
      overrides: { budget: { instructions: 1e9, wallMs: 60_000 } },
    });
    const before = process.memoryUsage().rss;
    let peak = before;
    for (let i = 0; i < 12; i++) {
      const { verdicts } = await runSession(t, '192.0.2.50');
      // Every phase ends in the giant-string fault; the hoard grows until the generation is retired.
      expect(verdicts['connect']).toMatchObject({ fault: true });
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    const status = t.engine.status();
    expect(status.limitFaults['memory']).toBe(12);
    expect(status.memoryRetirements).toBeGreaterThan(0);
    expect(status.liveGenerations).toBe(1);
    const growthMb = (peak - before) / 1024 / 1024;
    expect(growthMb, `RSS grew ${growthMb.toFixed(0)} MB`).toBeLessThan(200);
  }, 120_000); // ~200 MB of allocation churn: seconds on an idle core, much longer on a shared one
});
