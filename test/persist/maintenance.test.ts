import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseAddress } from '../../src/audit/address.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { ManualClock, SystemClock, type Clock } from '../../src/clock.ts';
import { captureLogger, LEVELS } from '../../src/log.ts';
import { SeriesJournal } from '../../src/persist/journal.ts';
import { MaintenanceLoop } from '../../src/persist/maintenance.ts';
import { MonitorPersistence } from '../../src/persist/monitor-persistence.ts';
import { SeriesPersistence } from '../../src/persist/series-persistence.ts';
import { waitUntil } from '../helpers/wait.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mw-maint-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function wire(clock: Clock, logDir = join(dir, 'log'), intervalSec = 300) {
  const { logger, records } = captureLogger('debug');
  const store = new AuditStore({ clock, logger, monitors: ['60,2'] });
  const persistence = new SeriesPersistence({ dir: join(dir, 'state'), series: store.series, clock, logger });
  const journal = new SeriesJournal({ dir: logDir, series: store.series, clock, logger, periodSec: intervalSec });
  const monitors = new MonitorPersistence({ dir: join(dir, 'state'), store, clock, logger });
  monitors.restore();
  store.series.onDefine((n) => {
    persistence.onDefined(n);
    journal.onDefined(n);
  });
  store.series.define('both', 'cidr', 60, 5, { persist: true, serialize: true });
  store.series.add('both', parseAddress('192.0.2.1'), 2);
  store.record('connections', parseAddress('192.0.2.1'));
  const loop = new MaintenanceLoop({ store, persistence, journal, monitors, clock, logger, intervalSec });
  return { store, loop, records };
}

describe('maintenance loop', () => {
  it('journals, checkpoints series and monitors on each pass', async () => {
    const { loop } = wire(new ManualClock(Date.UTC(2026, 10, 22, 6, 4, 59)));
    await loop.tick();
    expect(readdirSync(join(dir, 'state')).sort()).toEqual(['both.series', 'monitors.state']);
    expect(readdirSync(join(dir, 'log'))).toEqual(['both.20261122T060000']);
  });

  it('keeps going when one step fails, and logs it', async () => {
    writeFileSync(join(dir, 'log'), 'a file where log_dir should be');
    const { loop, records } = wire(new ManualClock(Date.UTC(2026, 10, 22, 6, 4, 59)));
    await loop.tick();
    expect(records.some((r) => r.level === LEVELS.error && r.msg === 'could not write audit series journal')).toBe(true);
    expect(existsSync(join(dir, 'state', 'both.series'))).toBe(true);
  });

  it('saves once more when stopped (the shutdown save)', () => {
    const { loop, records } = wire(new ManualClock(Date.UTC(2026, 10, 22, 6, 4, 59)));
    loop.stop();
    expect(existsSync(join(dir, 'state', 'both.series'))).toBe(true);
    expect(existsSync(join(dir, 'state', 'monitors.state'))).toBe(true);
    expect(records.some((r) => r.msg === 'audit series saved' && r['series'] === 1)).toBe(true);
  });

  it('runs on the wall-clock boundaries of the interval', async () => {
    const { loop } = wire(new SystemClock(), join(dir, 'log'), 1);
    loop.start();
    try {
      await waitUntil(() => existsSync(join(dir, 'state', 'both.series')), 'the first save on a 1 s boundary');
    } finally {
      loop.stop();
    }
    const journals = readdirSync(join(dir, 'log'));
    expect(journals.length).toBeGreaterThanOrEqual(1);
    // Named by a whole-second period end: nothing but the stamp after the series name.
    expect(journals[0]).toMatch(/^both\.\d{8}T\d{6}$/);
  });
});
