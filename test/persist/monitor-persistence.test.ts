import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseAddress, parseCidr } from '../../src/audit/address.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { ManualClock } from '../../src/clock.ts';
import { captureLogger, LEVELS } from '../../src/log.ts';
import { MonitorPersistence, MONITORS_FILE } from '../../src/persist/monitor-persistence.ts';

const T0 = Date.UTC(2026, 10, 22, 6, 0, 10);
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mw-monitors-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function boot(ms: number, monitors = ['60,3', '300,2']) {
  const clock = new ManualClock(ms);
  const { logger, records } = captureLogger('debug');
  const store = new AuditStore({ clock, logger, monitors });
  return { clock, store, records, mp: new MonitorPersistence({ dir, store, clock, logger }) };
}

describe('persisted monitors', () => {
  it('saves every metric window of every monitor and restores them where the downtime puts them', () => {
    const a = boot(T0);
    a.mp.restore();
    a.store.record('connections', parseAddress('192.0.2.1'));
    a.store.record('connections', parseAddress('2001:db8::5'));
    a.clock.advance(60_000);
    a.store.record('rejections', parseAddress('192.0.2.1'));
    a.store.record('connections', parseAddress('192.0.2.1'));
    expect(a.mp.save()).toBe(true);

    const b = boot(T0 + 120_000);
    b.mp.restore();
    const c = parseCidr('192.0.2.1');
    expect(b.store.windows('connections', '60,3', c)).toEqual([0, 1, 1]);
    expect(b.store.windows('rejections', '60,3', c)).toEqual([0, 1, 0]);
    expect(b.store.windows('connections', '300,2', c)).toEqual([2, 0]);
    expect(b.store.count('connections', '60,3', parseCidr('2001:db8::/32'), 0, 2)).toBe(1);
    // Restored counts keep counting with live ones.
    b.store.record('connections', parseAddress('192.0.2.1'));
    expect(b.store.windows('connections', '300,2', c)).toEqual([3, 0]);
  });

  it('drops windows older than a monitor keeps, per monitor', () => {
    const a = boot(T0);
    a.mp.restore();
    a.store.record('connections', parseAddress('192.0.2.1'));
    a.mp.save();
    const b = boot(T0 + 4 * 60_000);
    b.mp.restore();
    expect(b.store.windows('connections', '60,3', parseCidr('192.0.2.1'))).toEqual([0, 0, 0]);
    expect(b.store.windows('connections', '300,2', parseCidr('192.0.2.1'))).toEqual([1, 0]);
  });

  it('drops a monitor that is no longer configured, with a warning', () => {
    const a = boot(T0);
    a.mp.restore();
    a.store.record('connections', parseAddress('192.0.2.1'));
    a.mp.save();
    const b = boot(T0, ['60,3']);
    b.mp.restore();
    expect(b.records.some((r) => r.level === LEVELS.warn && r['monitor'] === '300,2')).toBe(true);
    expect(b.store.windows('connections', '60,3', parseCidr('192.0.2.1'))).toEqual([1, 0, 0]);
  });

  it('quarantines a corrupt file, or refuses under strict', () => {
    writeFileSync(join(dir, MONITORS_FILE), 'garbage');
    const s = boot(T0);
    expect(() => s.mp.restore(true)).toThrow(expect.objectContaining({ code: 'MW_ERR_STATE_STRICT' }));
    expect(readdirSync(dir)).toEqual([MONITORS_FILE]);
    const b = boot(T0);
    expect(b.mp.restore()).toBe(0);
    expect(readdirSync(dir).filter((f) => f.startsWith(`${MONITORS_FILE}.corrupt-`))).toHaveLength(1);
    expect(b.records.find((r) => r.level === LEVELS.error)?.msg).toBe('saved audit monitors are corrupt: moved aside, the monitors start empty');
  });
});
