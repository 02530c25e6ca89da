import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseAddress, parseCidr } from '../../src/audit/address.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { ManualClock } from '../../src/clock.ts';
import { captureLogger, LEVELS, type LogRecord } from '../../src/log.ts';
import { readSeriesFile, seriesFile, writeSeriesFile } from '../../src/persist/series-file.ts';
import { SeriesPersistence } from '../../src/persist/series-persistence.ts';

const T0 = Date.UTC(2026, 10, 22, 6, 0, 10);
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mw-persist-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

interface Node {
  clock: ManualClock;
  store: AuditStore;
  persistence: SeriesPersistence;
  records: LogRecord[];
}

/** One "process": a store, persistence hooked to define, as serve wires them. */
function boot(clock: ManualClock, strict = false): Node {
  const { logger, records } = captureLogger('debug');
  const store = new AuditStore({ clock, logger, monitors: [] });
  const persistence = new SeriesPersistence({ dir, series: store.series, clock, logger, strict });
  store.series.onDefine((name) => persistence.onDefined(name));
  return { clock, store, persistence, records };
}

const ip = (s: string) => parseAddress(s);
const net = (s: string) => parseCidr(s);
const errors = (n: Node) => n.records.filter((r) => r.level >= LEVELS.error);

describe('persisted series across restarts', () => {
  it('saves at checkpoint and restores when init defines the series again', () => {
    const a = boot(new ManualClock(T0));
    a.store.series.define('bad', 'cidr', 60, 5, { persist: true });
    a.store.series.define('scratch', 'cidr', 60, 5);
    a.store.series.add('bad', ip('192.0.2.1'), 3);
    a.clock.advance(60_000);
    a.store.series.add('bad', ip('192.0.2.1'), 2);
    a.store.series.add('scratch', ip('192.0.2.1'), 2);
    expect(a.persistence.checkpoint()).toBe(1);
    expect(readdirSync(dir)).toEqual(['bad.series']);

    const b = boot(new ManualClock(a.clock.now() + 5_000));
    b.store.series.define('bad', 'cidr', 60, 5, { persist: true });
    b.persistence.finishStartup();
    expect(b.store.series.count('bad', net('192.0.2.1'), 0, 0)).toBe(2);
    expect(b.store.series.count('bad', net('192.0.2.1'), 1, 1)).toBe(3);
    expect(b.records.some((r) => r.msg === 'audit series restored' && r['series'] === 'bad' && r['entries'] === 2)).toBe(true);
  });

  it('an identical re-define (every reload runs init) keeps the live counts', () => {
    const a = boot(new ManualClock(T0));
    a.store.series.define('bad', 'cidr', 60, 5, { persist: true });
    a.store.series.add('bad', ip('192.0.2.1'), 3);
    a.persistence.checkpoint();
    const b = boot(new ManualClock(T0));
    b.store.series.define('bad', 'cidr', 60, 5, { persist: true });
    b.store.series.add('bad', ip('192.0.2.1'), 1);
    b.store.series.define('bad', 'cidr', 60, 5, { persist: true });
    expect(b.store.series.count('bad', net('192.0.2.1'))).toBe(4);
    expect(b.records.filter((r) => r.msg === 'audit series restored')).toHaveLength(1);
  });

  it('rotates by the downtime: windows move back by the whole intervals elapsed', () => {
    const a = boot(new ManualClock(T0));
    a.store.series.define('s', 'string', 60, 5, { persist: true });
    a.store.series.add('s', 'k', 4);
    a.persistence.checkpoint();
    const b = boot(new ManualClock(T0 + 3 * 60_000));
    b.store.series.define('s', 'string', 60, 5, { persist: true });
    expect(b.store.series.count('s', 'k', 0, 2)).toBe(0);
    expect(b.store.series.count('s', 'k', 3, 3)).toBe(4);
  });

  it('starts the series empty after a downtime longer than its span, and never revives old windows', () => {
    const a = boot(new ManualClock(T0));
    a.store.series.define('bad', 'cidr', 60, 5, { persist: true });
    a.store.series.add('bad', ip('192.0.2.1'), 9);
    a.persistence.checkpoint();
    const b = boot(new ManualClock(T0 + 5 * 60_000));
    b.store.series.define('bad', 'cidr', 60, 5, { persist: true });
    expect(b.store.series.count('bad', net('0.0.0.0/0'), 0, 4)).toBe(0);
    expect(b.store.series.info('bad').keys).toBe(0);
  });

  it.each([
    ['truncated', (b: Buffer) => b.subarray(0, b.length - 7)],
    ['a flipped byte', (b: Buffer) => Buffer.from(b.map((x, i) => (i === b.length - 5 ? x ^ 4 : x)))],
    ['zero length', () => Buffer.alloc(0)],
    ['another version', (b: Buffer) => Buffer.from(b.toString().replace('"version":1', '"version":2'))],
  ])('quarantines a %s file with a clear log line and starts the series empty', (_what, damage) => {
    const a = boot(new ManualClock(T0));
    a.store.series.define('bad', 'cidr', 60, 5, { persist: true });
    a.store.series.add('bad', ip('192.0.2.1'), 9);
    a.persistence.checkpoint();
    const path = seriesFile(dir, 'bad');
    const damaged = damage(readFileSync(path));
    writeFileSync(path, damaged);

    const b = boot(new ManualClock(T0 + 1000));
    b.store.series.define('bad', 'cidr', 60, 5, { persist: true });
    b.persistence.finishStartup();
    expect(b.store.series.count('bad', net('192.0.2.1'), 0, 4)).toBe(0);
    expect(existsSync(path)).toBe(false);
    const aside = readdirSync(dir).filter((f) => f.startsWith('bad.series.corrupt-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(dir, aside[0]!))).toEqual(damaged);
    const [line] = errors(b);
    expect(line?.msg).toBe('saved audit series is corrupt: moved aside, the series starts empty');
    expect(line).toMatchObject({ series: 'bad', file: path, movedTo: join(dir, aside[0]!), reason: 'corrupt' });
    expect(String(line?.['detail'])).toMatch(/^MW_ERR_STATE_(CORRUPT|VERSION): /);
    // The next checkpoint writes a good file again.
    b.store.series.add('bad', ip('192.0.2.2'), 1);
    b.persistence.checkpoint();
    expect(readSeriesFile(path).buckets[0]!.counts).toEqual([['192.0.2.2', 1]]);
  });

  it('sets aside the file of a series defined with another shape', () => {
    const a = boot(new ManualClock(T0));
    a.store.series.define('bad', 'cidr', 60, 5, { persist: true });
    a.store.series.add('bad', ip('192.0.2.1'), 9);
    a.persistence.checkpoint();
    const b = boot(new ManualClock(T0));
    b.store.series.define('bad', 'cidr', 60, 6, { persist: true });
    expect(b.store.series.count('bad', net('192.0.2.1'), 0, 5)).toBe(0);
    expect(readdirSync(dir).filter((f) => f.startsWith('bad.series.reshaped-'))).toHaveLength(1);
    expect(errors(b)[0]).toMatchObject({ reason: 'reshaped', detail: 'saved as bad cidr 60,5, defined as bad cidr 60,6' });
  });

  it('sets aside the saved file when a reload reshapes a live persisted series', () => {
    const a = boot(new ManualClock(T0));
    a.store.series.define('bad', 'cidr', 60, 5, { persist: true });
    a.store.series.add('bad', ip('192.0.2.1'), 9);
    a.persistence.checkpoint();
    a.store.series.define('bad', 'cidr', 300, 5, { persist: true });
    expect(readdirSync(dir).filter((f) => f.startsWith('bad.series.reshaped-'))).toHaveLength(1);
    a.persistence.checkpoint();
    expect(readSeriesFile(seriesFile(dir, 'bad')).interval).toBe(300);
  });

  it('under strict refuses to start and leaves the file where it is', () => {
    const a = boot(new ManualClock(T0));
    a.store.series.define('bad', 'cidr', 60, 5, { persist: true });
    a.store.series.add('bad', ip('192.0.2.1'), 9);
    a.persistence.checkpoint();
    const path = seriesFile(dir, 'bad');
    writeFileSync(path, readFileSync(path).subarray(0, 40));
    const b = boot(new ManualClock(T0), true);
    b.store.series.define('bad', 'cidr', 60, 5, { persist: true });
    expect(() => b.persistence.finishStartup()).toThrow(expect.objectContaining({ code: 'MW_ERR_STATE_STRICT' }));
    expect(readdirSync(dir)).toEqual(['bad.series']);
    expect(b.records.some((r) => r.level === LEVELS.fatal && r['series'] === 'bad')).toBe(true);
  });

  it('never saves over a file it could not read', () => {
    mkdirSync(seriesFile(dir, 'bad')); // EISDIR on read: not corruption, not ours to replace
    const b = boot(new ManualClock(T0));
    b.store.series.define('bad', 'cidr', 60, 5, { persist: true });
    b.store.series.add('bad', ip('192.0.2.1'), 1);
    expect(b.persistence.checkpoint()).toBe(0);
    expect(errors(b)[0]?.msg).toBe('could not read saved audit series: it starts empty and will not be saved in this run');
  });

  it('a file whose checksum holds but whose keys are wrong is quarantined, not half-loaded', () => {
    writeSeriesFile(seriesFile(dir, 'bad'), {
      name: 'bad',
      type: 'cidr',
      interval: 60,
      windows: 5,
      buckets: [{ start: Math.floor(T0 / 60_000) * 60, counts: [['192.0.2.1', 1], ['2001:db8::1', 1]] }],
    });
    const b = boot(new ManualClock(T0));
    b.store.series.define('bad', 'cidr', 60, 5, { persist: true });
    expect(b.store.series.count('bad', net('192.0.2.1'), 0, 4)).toBe(0);
    expect(readdirSync(dir).some((f) => f.startsWith('bad.series.corrupt-'))).toBe(true);
  });

  it('removes the temp file of a save killed mid-write', () => {
    writeFileSync(join(dir, '.bad.series.tmp-123-4'), 'partial');
    const b = boot(new ManualClock(T0));
    expect(readdirSync(dir)).toEqual([]);
    expect(b.records.some((r) => r.msg === 'removed the temp file of an interrupted save')).toBe(true);
  });

  it('picks up a series whose persist option was switched on in place at the next checkpoint', () => {
    const a = boot(new ManualClock(T0));
    a.store.series.define('bad', 'cidr', 60, 5, { persist: true });
    a.store.series.add('bad', ip('192.0.2.1'), 2);
    a.persistence.checkpoint();
    const b = boot(new ManualClock(T0));
    b.store.series.define('bad', 'cidr', 60, 5);
    b.store.series.define('bad', 'cidr', 60, 5, { persist: true });
    b.persistence.checkpoint();
    expect(b.store.series.count('bad', net('192.0.2.1'), 0, 0)).toBe(2);
  });
});
