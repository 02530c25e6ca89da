import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseAddress, parseCidr } from '../../src/audit/address.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { ManualClock } from '../../src/clock.ts';
import { captureLogger } from '../../src/log.ts';
import { SeriesJournal, stamp } from '../../src/persist/journal.ts';
import { seriesFile, writeSeriesFile } from '../../src/persist/series-file.ts';
import { SeriesPersistence } from '../../src/persist/series-persistence.ts';

// 06:00:10 UTC: a pass at 06:05:xx closes the period ending 06:05:00.
const T0 = Date.UTC(2026, 10, 22, 6, 0, 10);
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mw-journal-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function setup() {
  const clock = new ManualClock(T0);
  const { logger, records } = captureLogger('debug');
  const store = new AuditStore({ clock, logger, monitors: [] });
  const journal = new SeriesJournal({ dir, series: store.series, clock, logger, periodSec: 300 });
  store.series.onDefine((n) => journal.onDefined(n));
  return { clock, store, journal, records };
}

describe('serialize journal', () => {
  it('names files <series>.<YYYYMMDD>T<HHMMSS> in UTC at the period end', () => {
    expect(stamp(Date.UTC(2026, 0, 2, 3, 15, 0) / 1000)).toBe('20260102T031500');
  });

  it('writes the counts of each period only and leaves the live series alone', () => {
    const { clock, store, journal } = setup();
    store.series.define('bad', 'cidr', 60, 10, { serialize: true });
    store.series.define('quiet', 'cidr', 60, 10);
    store.series.add('bad', parseAddress('192.0.2.1'), 3);
    store.series.add('bad', parseAddress('198.51.100.7'), 1);
    clock.set(Date.UTC(2026, 10, 22, 6, 5, 2));
    const [first] = journal.pass();
    expect(first).toBe(join(dir, 'bad.20261122T060500'));
    expect(readFileSync(first!, 'utf8')).toBe(
      '# moonwatch journal series="bad" type=cidr period_start=2026-11-22T06:00:00Z period_end=2026-11-22T06:05:00Z\n' +
        '3 "192.0.2.1"\n1 "198.51.100.7"\n',
    );
    store.series.add('bad', parseAddress('192.0.2.1'), 2);
    // Not reset: policy still sees both periods.
    expect(store.series.count('bad', parseCidr('192.0.2.1'), 0, 9)).toBe(5);
    clock.set(Date.UTC(2026, 10, 22, 6, 10, 1));
    const [second] = journal.pass();
    expect(second).toBe(join(dir, 'bad.20261122T061000'));
    expect(readFileSync(second!, 'utf8').split('\n').slice(1)).toEqual(['2 "192.0.2.1"', '']);
    expect(readdirSync(dir).sort()).toEqual(['bad.20261122T060500', 'bad.20261122T061000']);
  });

  it('journals removals as negative counts and never overwrites a file of the same period', () => {
    const { clock, store, journal } = setup();
    store.series.define('s', 'string', 60, 10, { serialize: true });
    store.series.add('s', 'with space', 4);
    journal.pass();
    store.series.removeItem('s', 'with space');
    const [again] = journal.pass();
    expect(again).toBe(join(dir, `s.${stamp(Math.floor(clock.now() / 300_000) * 300)}-1`));
    expect(readFileSync(again!, 'utf8').split('\n')[1]).toBe('-4 "with space"');
  });

  it('an identical re-define (a reload) does not skip what was counted since the last pass', () => {
    const { clock, store, journal } = setup();
    store.series.define('s', 'string', 60, 10, { serialize: true });
    store.series.add('s', 'k', 2);
    store.series.define('s', 'string', 60, 10, { serialize: true });
    clock.advance(300_000);
    const [path] = journal.pass();
    expect(readFileSync(path!, 'utf8').split('\n')[1]).toBe('2 "k"');
  });

  it('does not journal what persistence restored when the series was defined', () => {
    const clock = new ManualClock(T0);
    const { logger } = captureLogger('debug');
    const store = new AuditStore({ clock, logger, monitors: [] });
    const stateDir = join(dir, 'state');
    mkdirSync(stateDir);
    writeSeriesFile(seriesFile(stateDir, 's'), { name: 's', type: 'string', interval: 60, windows: 10, buckets: [{ start: Math.floor(T0 / 60_000) * 60, counts: [['old', 1]] }] });
    const persistence = new SeriesPersistence({ dir: stateDir, series: store.series, clock, logger });
    const journal = new SeriesJournal({ dir, series: store.series, clock, logger, periodSec: 300 });
    store.series.onDefine((n) => {
      persistence.onDefined(n);
      journal.onDefined(n);
    });
    store.series.define('s', 'string', 60, 10, { serialize: true, persist: true });
    expect(store.series.count('s', 'old')).toBe(1);
    store.series.add('s', 'new', 1);
    clock.advance(300_000);
    const [path] = journal.pass();
    expect(readFileSync(path!, 'utf8').split('\n').slice(1)).toEqual(['1 "new"', '']);
  });
});
