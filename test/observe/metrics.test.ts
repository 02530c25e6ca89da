import { describe, expect, it } from 'vitest';
import { AuditStore } from '../../src/audit/store.ts';
import { ManualClock } from '../../src/clock.ts';
import { captureLogger } from '../../src/log.ts';
import { ServerMetrics } from '../../src/observe/metrics.ts';
import { PHASE } from '../../src/policy/phases.ts';
import { CONTINUE } from '../../src/policy/verdict.ts';

function metrics(): ServerMetrics {
  const clock = new ManualClock(Date.UTC(2026, 11, 5));
  const store = new AuditStore({ clock, logger: captureLogger().logger, monitors: ['60,10'] });
  return new ServerMetrics({ store, sessions: () => ({ accepted: 0, open: 0 }), generation: () => 1 });
}

const lines = (text: string, prefix: string) => text.split('\n').filter((l) => l.startsWith(prefix));

describe('server metrics', () => {
  it('exposes phase durations as a cumulative histogram per phase, with sum and count', async () => {
    const m = metrics();
    m.phase(PHASE.connect, CONTINUE, undefined, 0.05); // 0.00005 s: first bucket
    m.phase(PHASE.connect, CONTINUE, undefined, 0.3); // 0.0003 s: the 0.0005 bucket
    m.phase(PHASE.connect, CONTINUE, undefined, 250); // 0.25 s: past every bound, only +Inf
    m.phase(PHASE.ehlo, CONTINUE, undefined, 1); // exactly 0.001: le="0.001" holds it
    const text = await m.registry.metrics();
    expect(lines(text, 'moonwatch_phase_duration_seconds')).toEqual([
      'moonwatch_phase_duration_seconds_bucket{le="0.0001",phase="connect"} 1',
      'moonwatch_phase_duration_seconds_bucket{le="0.00025",phase="connect"} 1',
      'moonwatch_phase_duration_seconds_bucket{le="0.0005",phase="connect"} 2',
      'moonwatch_phase_duration_seconds_bucket{le="0.001",phase="connect"} 2',
      'moonwatch_phase_duration_seconds_bucket{le="0.0025",phase="connect"} 2',
      'moonwatch_phase_duration_seconds_bucket{le="0.005",phase="connect"} 2',
      'moonwatch_phase_duration_seconds_bucket{le="0.01",phase="connect"} 2',
      'moonwatch_phase_duration_seconds_bucket{le="0.025",phase="connect"} 2',
      'moonwatch_phase_duration_seconds_bucket{le="0.05",phase="connect"} 2',
      'moonwatch_phase_duration_seconds_bucket{le="0.1",phase="connect"} 2',
      'moonwatch_phase_duration_seconds_bucket{le="+Inf",phase="connect"} 3',
      'moonwatch_phase_duration_seconds_sum{phase="connect"} 0.25035',
      'moonwatch_phase_duration_seconds_count{phase="connect"} 3',
      'moonwatch_phase_duration_seconds_bucket{le="0.0001",phase="ehlo"} 0',
      'moonwatch_phase_duration_seconds_bucket{le="0.00025",phase="ehlo"} 0',
      'moonwatch_phase_duration_seconds_bucket{le="0.0005",phase="ehlo"} 0',
      'moonwatch_phase_duration_seconds_bucket{le="0.001",phase="ehlo"} 1',
      'moonwatch_phase_duration_seconds_bucket{le="0.0025",phase="ehlo"} 1',
      'moonwatch_phase_duration_seconds_bucket{le="0.005",phase="ehlo"} 1',
      'moonwatch_phase_duration_seconds_bucket{le="0.01",phase="ehlo"} 1',
      'moonwatch_phase_duration_seconds_bucket{le="0.025",phase="ehlo"} 1',
      'moonwatch_phase_duration_seconds_bucket{le="0.05",phase="ehlo"} 1',
      'moonwatch_phase_duration_seconds_bucket{le="0.1",phase="ehlo"} 1',
      'moonwatch_phase_duration_seconds_bucket{le="+Inf",phase="ehlo"} 1',
      'moonwatch_phase_duration_seconds_sum{phase="ehlo"} 0.001',
      'moonwatch_phase_duration_seconds_count{phase="ehlo"} 1',
    ]);
    expect(text).toContain('# TYPE moonwatch_phase_duration_seconds histogram');
  });

  it('counts verdicts by phase, deciding module and code class, the same on every scrape', async () => {
    const m = metrics();
    m.phase(PHASE.rcptto, { action: 'reject', code: 550, text: 'no', tarpitMs: 0 }, 'gate', 1);
    m.phase(PHASE.rcptto, { action: 'reject', code: 554, text: 'no', tarpitMs: 0 }, 'gate', 1);
    m.phase(PHASE.rcptto, { action: 'tempfail', code: 451, text: 'later', tarpitMs: 0 }, 'gate', 1);
    m.phase(PHASE.rcptto, CONTINUE, undefined, 1);
    const expected = [
      'moonwatch_verdicts_total{phase="rcptto",module="gate",code_class="4xx"} 1',
      'moonwatch_verdicts_total{phase="rcptto",module="gate",code_class="5xx"} 2',
      'moonwatch_verdicts_total{phase="rcptto",module="-",code_class="2xx"} 1',
    ];
    expect(lines(await m.registry.metrics(), 'moonwatch_verdicts_total{')).toEqual(expected);
    expect(lines(await m.registry.metrics(), 'moonwatch_verdicts_total{')).toEqual(expected);
    expect([...m.verdictTotals]).toEqual([['reject', 2], ['tempfail', 1], ['continue', 1]]);
  });
});
