/**
 * Checkpoint of a persisted series of 300,000 keys (issue 16): the longest
 * event-loop block while the sliced checkpoint (checkpointAsync) runs, beside
 * the time the blocking checkpoint() holds the loop for the same series, in
 * the same run. Target: no block over 50 ms.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ipv4 } from '../../src/audit/address.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { ManualClock, monotonicMs } from '../../src/clock.ts';
import { captureLogger } from '../../src/log.ts';
import { SeriesPersistence } from '../../src/persist/series-persistence.ts';
import { median, result, type BenchResult } from './lib.ts';

export default async function checkpointBench(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'mw-ckpt-bench-'));
  try {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 9, 0, 0));
    const { logger } = captureLogger('error');
    const store = new AuditStore({ clock, logger, monitors: [] });
    const persistence = new SeriesPersistence({ dir, series: store.series, clock, logger });
    store.series.onDefine((n) => persistence.onDefined(n));
    store.series.define('big', 'cidr', 60, 5, { persist: true });
    for (let w = 0; w < 3; w++) {
      for (let i = 0; i < 100_000; i++) store.series.add('big', ipv4(0x0a000000 + w * 100_000 + i), 1 + (i % 7));
      clock.advance(60_000);
    }
    const blocking: number[] = [];
    const sliced: number[] = [];
    for (let run = 0; run < 3; run++) {
      const t0 = monotonicMs();
      persistence.checkpoint();
      blocking.push(monotonicMs() - t0);
      const h = monitorEventLoopDelay({ resolution: 2 });
      h.enable();
      await persistence.checkpointAsync();
      h.disable();
      sliced.push(h.max / 1e6);
    }
    return [
      result({ name: 'checkpoint 300,000 keys: longest event-loop block', value: median(sliced), unit: 'ms', baseline: median(blocking), targetOn: 'value', cmp: '<=', limit: 50 }),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
