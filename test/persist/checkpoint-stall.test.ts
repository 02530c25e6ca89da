/**
 * Checkpoints of large series do not stall sessions (issue 16): a series of
 * 300,000 keys is saved in steps, and the event loop keeps turning meanwhile.
 * The bound asserted is loose (a shared two-core machine stalls any process
 * now and then); test/bench/checkpoint.bench.ts prints the figure beside the
 * blocking save's.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, describe, expect, it } from 'vitest';
import { ipv4, ipv6 } from '../../src/audit/address.ts';
import type { SeriesSnapshot } from '../../src/audit/series-snapshot.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { ManualClock, monotonicMs } from '../../src/clock.ts';
import { captureLogger } from '../../src/log.ts';
import { isTempFile } from '../../src/persist/atomic-file.ts';
import { readSeriesFile, seriesFile } from '../../src/persist/series-file.ts';
import { SeriesPersistence } from '../../src/persist/series-persistence.ts';

const dir = mkdtempSync(join(tmpdir(), 'mw-ckpt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function bigStore(perWindow = 100_000) {
  const clock = new ManualClock(Date.UTC(2026, 0, 5, 9, 0, 0));
  const { logger, records } = captureLogger('debug');
  const store = new AuditStore({ clock, logger, monitors: [] });
  const persistence = new SeriesPersistence({ dir, series: store.series, clock, logger });
  store.series.onDefine((n) => persistence.onDefined(n));
  store.series.define('big', 'cidr', 60, 5, { persist: true });
  store.series.define('six', 'cidr_ipv6', 60, 5, { persist: true });
  store.series.define('words', 'string', 60, 5, { persist: true });
  // 300,000 keys over three windows, some counts beyond int32.
  for (let w = 0; w < 3; w++) {
    for (let i = 0; i < perWindow; i++) store.series.add('big', ipv4(0x0a000000 + w * 100_000 + i), 1 + (i % 7));
    store.series.add('big', ipv4(0x0b000001), 3e12);
    for (let i = 0; i < 500; i++) store.series.add('six', ipv6(0x20010db8, w, i, 1), 2);
    for (let i = 0; i < 500; i++) store.series.add('words', `k${w}-${i}`, 1);
    clock.advance(60_000);
  }
  return { store, persistence, clock, records };
}

const sorted = (s: SeriesSnapshot) => ({
  ...s,
  buckets: s.buckets.map((b) => ({ start: b.start, counts: [...b.counts].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)) })),
});

describe('checkpoint of a 300,000-key series', () => {
  it('writes what a blocking checkpoint writes, while the event loop keeps turning', async () => {
    const { store, persistence } = bigStore();
    const expected = ['big', 'six', 'words'].map((n) => sorted(store.series.snapshot(n)));

    const t0 = monotonicMs();
    expect(persistence.checkpoint()).toBe(3);
    const blockingMs = monotonicMs() - t0;

    const h = monitorEventLoopDelay({ resolution: 5 });
    h.enable();
    let turns = 0;
    const ticker = setInterval(() => turns++, 1);
    const saving = persistence.checkpointAsync();
    // Sessions keep counting while it runs: the file holds the state when the save began.
    const during = setInterval(() => store.series.add('big', ipv4(0x0c000001), 1), 2);
    const saved = await saving;
    clearInterval(during);
    clearInterval(ticker);
    h.disable();
    const longestMs = h.max / 1e6;
    console.info(`checkpoint of 300,000 keys: blocking save ${blockingMs.toFixed(0)} ms; sliced save: longest event-loop block ${longestMs.toFixed(1)} ms, ${turns} timer turns`);

    expect(saved).toBe(3);
    // Adds made while it ran (12.0.0.1) may or may not be in it, depending on when the
    // series' copy was taken; everything else is exactly the blocking save's content.
    const withoutLive = (snap: SeriesSnapshot) => ({
      ...snap,
      buckets: snap.buckets.map((b) => ({ ...b, counts: b.counts.filter(([k]) => k !== '12.0.0.1') })).filter((b) => b.counts.length > 0),
    });
    expect(['big', 'six', 'words'].map((n) => sorted(withoutLive(readSeriesFile(seriesFile(dir, n)))))).toEqual(expected);
    expect(readdirSync(dir).filter(isTempFile)).toEqual([]);
    expect(turns).toBeGreaterThan(10);
    // Loose: the target is 50 ms; what must never come back is the whole save in one block.
    expect(longestMs).toBeLessThan(Math.max(250, blockingMs / 2));
  }, 120_000);

  it('a blocking save made meanwhile (shutdown) wins over a sliced one still running', async () => {
    const { store, persistence } = bigStore(10_000);
    const saving = persistence.checkpointAsync();
    // One turn in: the sliced save has begun but not finished.
    await new Promise((r) => setImmediate(r));
    store.series.add('big', ipv4(0x0d000001), 42);
    expect(persistence.checkpoint()).toBe(3);
    await saving;
    expect(readSeriesFile(seriesFile(dir, 'big')).buckets[0]!.counts).toContainEqual(['13.0.0.1', 42]);
    expect(readdirSync(dir).filter(isTempFile)).toEqual([]);
    // Calls do not overlap: a second call while one runs gets the same promise.
    const a = persistence.checkpointAsync();
    expect(persistence.checkpointAsync()).toBe(a);
    expect(await a).toBe(3);
  }, 120_000);
});
