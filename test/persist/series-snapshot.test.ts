import { describe, expect, it } from 'vitest';
import { parseAddress, parseCidr } from '../../src/audit/address.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { ManualClock } from '../../src/clock.ts';
import { captureLogger } from '../../src/log.ts';

const T0 = Date.UTC(2026, 10, 22, 6, 0, 10);
const W0 = Math.floor(T0 / 60_000) * 60;

function store(opts: { maxTrackedPerSeries?: number } = {}) {
  const clock = new ManualClock(T0);
  const { logger } = captureLogger('debug');
  return { clock, store: new AuditStore({ clock, logger, monitors: ['60,3'], ...opts }) };
}

const ip = parseAddress;
const net = parseCidr;

describe('series snapshot and restore (store side)', () => {
  it('exports hot and rotated windows with their epoch-aligned starts', () => {
    const { clock, store: s } = store();
    s.series.define('a', 'cidr', 60, 5);
    s.series.add('a', ip('192.0.2.1'), 2);
    clock.advance(60_000);
    s.series.add('a', ip('192.0.2.1'), 1); // moves the older count out of the hot row
    s.series.add('a', ip('192.0.2.9'), 4);
    clock.advance(60_000);
    const snap = s.series.snapshot('a');
    expect(snap).toMatchObject({ name: 'a', type: 'cidr', interval: 60, windows: 5 });
    const byStart = Object.fromEntries(snap.buckets.map((b) => [b.start, Object.fromEntries(b.counts)]));
    expect(byStart).toEqual({ [W0 + 60]: { '192.0.2.1': 1, '192.0.2.9': 4 }, [W0]: { '192.0.2.1': 2 } });
  });

  it('round-trips IPv6 and string series', () => {
    const { store: s } = store();
    s.series.define('v6', 'cidr_ipv6', 60, 5);
    s.series.define('str', 'string', 60, 5);
    s.series.add('v6', ip('2001:db8::1'), 3);
    s.series.add('str', 'a key', 2);
    const snapV6 = s.series.snapshot('v6');
    const snapStr = s.series.snapshot('str');
    const { store: t } = store();
    t.series.define('v6', 'cidr_ipv6', 60, 5);
    t.series.define('str', 'string', 60, 5);
    expect(t.series.restore(snapV6)).toBe(1);
    expect(t.series.restore(snapStr)).toBe(1);
    expect(t.series.count('v6', net('2001:db8::/32'))).toBe(3);
    expect(t.series.count('str', 'a key')).toBe(2);
    expect(t.series.snapshot('v6')).toEqual(snapV6);
  });

  it('restored and live counts of one address add up, and remove_item clears both', () => {
    const { store: s } = store();
    s.series.define('a', 'cidr', 60, 5);
    s.series.restore({ name: 'a', type: 'cidr', interval: 60, windows: 5, buckets: [{ start: W0, counts: [['192.0.2.1', 3]] }] });
    s.series.add('a', ip('192.0.2.1'), 2);
    s.series.add('a', ip('192.0.2.2'), 1);
    expect(s.series.count('a', net('192.0.2.1'))).toBe(5);
    expect(s.series.snapshot('a').buckets[0]!.counts.sort()).toEqual([['192.0.2.1', 5], ['192.0.2.2', 1]]);
    expect(s.series.removeItem('a', ip('192.0.2.1'))).toBe(true);
    expect(s.series.count('a', net('192.0.2.1'))).toBe(0);
    expect(s.series.count('a', net('192.0.0.0/16'))).toBe(1);
  });

  it('puts windows from the future (the clock stepped back) into window 0', () => {
    const { store: s } = store();
    s.series.define('a', 'cidr', 60, 5);
    s.series.restore({ name: 'a', type: 'cidr', interval: 60, windows: 5, buckets: [{ start: W0 + 600, counts: [['192.0.2.1', 3]] }] });
    expect(s.series.count('a', net('192.0.2.1'), 0, 0)).toBe(3);
  });

  it('checks every key before changing anything', () => {
    const { store: s } = store();
    s.series.define('a', 'cidr', 60, 5);
    s.series.add('a', ip('192.0.2.1'), 1);
    const bad = { name: 'a', type: 'cidr' as const, interval: 60, windows: 5, buckets: [{ start: W0, counts: [['192.0.2.7', 1], ['2001:db8::1', 1]] as [string, number][] }] };
    expect(() => s.series.restore(bad)).toThrow(expect.objectContaining({ code: 'MW_ERR_BAD_SERIES' }));
    expect(() => s.series.restore({ ...bad, buckets: [{ start: W0, counts: [['not-an-ip', 1]] }] })).toThrow(expect.objectContaining({ code: 'MW_ERR_BAD_ADDRESS' }));
    expect(() => s.series.restore({ ...bad, interval: 300 })).toThrow(expect.objectContaining({ code: 'MW_ERR_BAD_SERIES' }));
    expect(s.series.count('a', net('192.0.2.0/24'), 0, 4)).toBe(1);
  });

  it('keeps the cap on tracked keys when restoring', () => {
    const { store: s } = store({ maxTrackedPerSeries: 2 });
    s.series.define('a', 'cidr', 60, 5);
    s.series.define('str', 'string', 60, 5);
    const counts: [string, number][] = [['192.0.2.1', 1], ['192.0.2.2', 1], ['192.0.2.3', 1]];
    s.series.restore({ name: 'a', type: 'cidr', interval: 60, windows: 5, buckets: [{ start: W0, counts }] });
    expect(s.series.info('a').keys).toBe(2);
    // The address over the cap is still counted in its block.
    expect(s.series.count('a', net('192.0.2.0/24'))).toBe(3);
    const kept = s.series.restore({ name: 'str', type: 'string', interval: 60, windows: 5, buckets: [{ start: W0, counts }] });
    expect(kept).toBe(2);
    expect(s.stats().degradedEvents).toBeGreaterThan(0);
  });

  it('exports per-address monitor windows for show all', () => {
    const { clock, store: s } = store();
    s.record('connections', ip('192.0.2.1'));
    clock.advance(60_000);
    s.record('connections', ip('192.0.2.1'));
    s.record('connections', ip('2001:db8::1'));
    expect(s.hostCounts('connections', '60,3', 1).map(([a, n]) => [a.family, n])).toEqual([[4, 1]]);
    expect(s.hostCounts('connections', '60,3', 0)).toHaveLength(2);
    expect(() => s.hostCounts('connections', '60,3', 3)).toThrow(expect.objectContaining({ code: 'MW_ERR_BAD_MONITOR' }));
  });
});
