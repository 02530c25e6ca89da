import { describe, expect, it } from 'vitest';
import { formatAddress, parseAddress, parseCidr } from '../../src/audit/address.ts';
import type { MonitorSnapshot } from '../../src/audit/monitor-snapshot.ts';
import { errorCode, makeStore, T0 } from './helpers.ts';
import { addressPool, rng } from './model.ts';

const MIN = 60_000;

describe('monitor snapshots', () => {
  it('round-trip every metric and window, hot and rotated counts alike', () => {
    const { store, clock } = makeStore({ monitors: ['60,4', '300,2'] });
    const next = rng(12);
    const pool = [...addressPool(next, 4, 40), ...addressPool(next, 6, 40)];
    for (let step = 0; step < 600; step++) {
      if (step % 100 === 99) clock.advance(MIN);
      const metric = (['connections', 'receptions', 'rejections'] as const)[next() % 3]!;
      store.record(metric, pool[next() % pool.length]!);
    }
    const snaps = store.monitors().map((m) => store.monitorSnapshot(m));
    const { store: copy } = makeStore({ monitors: ['60,4', '300,2'] }, clock.now());
    expect(snaps.reduce((n, s) => n + copy.restoreMonitor(s), 0)).toBeGreaterThan(0);
    for (const metric of ['connections', 'receptions', 'rejections'] as const) {
      for (const m of ['60,4', '300,2']) {
        for (const a of pool.slice(0, 20)) {
          for (const p of a.family === 4 ? [32, 27, 24, 16, 0] : [128, 64, 48, 0]) {
            const block = parseCidr(`/${p}`, a);
            expect(copy.windows(metric, m, block)).toEqual(store.windows(metric, m, block));
          }
        }
      }
    }
    // Entry order within a window is unspecified.
    const norm = (all: MonitorSnapshot[]) =>
      all.map((sn) => ({
        ...sn,
        ...Object.fromEntries(
          (['connections', 'receptions', 'rejections'] as const).map((k) => [k, sn[k].map((b) => ({ start: b.start, counts: [...b.counts].sort() })).sort((x, y) => x.start - y.start)]),
        ),
      }));
    expect(norm(copy.monitors().map((m) => copy.monitorSnapshot(m)))).toEqual(norm(snaps));
  });

  it('ages saved windows by the downtime and replaces what the monitor held', () => {
    const { store, clock } = makeStore({ monitors: ['60,3'] });
    const a = parseAddress('192.0.2.1');
    store.record('connections', a);
    clock.advance(MIN);
    store.record('connections', a);
    store.record('connections', a);
    const snap = store.monitorSnapshot('60,3');
    const { store: later } = makeStore({ monitors: ['60,3'] }, clock.now() + MIN);
    later.record('connections', parseAddress('192.0.2.9'));
    expect(later.restoreMonitor(snap)).toBe(2);
    expect(later.windows('connections', '60,3', parseCidr('192.0.2.0/24'))).toEqual([0, 2, 1]);
    later.record('connections', a);
    expect(later.windows('connections', '60,3', parseCidr('192.0.2.1'))).toEqual([1, 2, 1]);
  });

  it('checks everything before changing anything', () => {
    const { store } = makeStore({ monitors: ['60,3'] });
    const a = parseAddress('192.0.2.1');
    store.record('connections', a);
    const start = Math.floor(T0 / MIN) * 60;
    const good: MonitorSnapshot = { monitor: '60,3', connections: [{ start, counts: [['192.0.2.1', 2]] }], receptions: [], rejections: [] };
    const bad = (over: Partial<MonitorSnapshot>) => ({ ...good, ...over }) as MonitorSnapshot;
    expect(errorCode(() => store.restoreMonitor(bad({ monitor: '60,9' })))).toBe('MW_ERR_UNKNOWN_MONITOR');
    expect(errorCode(() => store.restoreMonitor(bad({ monitor: 'sixty' })))).toBe('MW_ERR_BAD_MONITOR');
    expect(errorCode(() => store.restoreMonitor(bad({ rejections: [{ start: start + 1, counts: [] }] })))).toBe('MW_ERR_BAD_MONITOR');
    expect(errorCode(() => store.restoreMonitor(bad({ rejections: [{ start, counts: [['192.0.2.1', -1]] }] })))).toBe('MW_ERR_BAD_MONITOR');
    expect(errorCode(() => store.restoreMonitor(bad({ rejections: [{ start, counts: [['192.0.2.1', 1.5]] }] })))).toBe('MW_ERR_BAD_MONITOR');
    expect(errorCode(() => store.restoreMonitor(bad({ rejections: [{ start, counts: [['127.1', 1]] }] })))).toBe('MW_ERR_BAD_ADDRESS');
    expect(errorCode(() => store.restoreMonitor(bad({ receptions: 'x' as never })))).toBe('MW_ERR_BAD_MONITOR');
    expect(store.count('connections', '60,3', parseCidr('192.0.2.1'))).toBe(1);
    expect(store.restoreMonitor(good)).toBe(1);
    expect(store.count('connections', '60,3', parseCidr('192.0.2.1'))).toBe(2);
  });

  it('lists per-address counts of one window for show all', () => {
    const { store, clock } = makeStore({ monitors: ['60,3'] });
    store.record('rejections', parseAddress('192.0.2.1'));
    clock.advance(MIN);
    store.record('rejections', parseAddress('192.0.2.1'));
    store.record('rejections', parseAddress('192.0.2.1'));
    store.record('rejections', parseAddress('2001:db8::7'));
    const show = (k: number) => store.hostCounts('rejections', '60,3', k).map(([a, n]) => `${formatAddress(a)}=${n}`).sort();
    expect(show(0)).toEqual(['192.0.2.1=2', '2001:db8::7=1']);
    expect(show(1)).toEqual(['192.0.2.1=1']);
    expect(show(2)).toEqual([]);
    expect(errorCode(() => store.hostCounts('rejections', '60,3', 3))).toBe('MW_ERR_BAD_MONITOR');
    expect(errorCode(() => store.hostCounts('rejections', '60,3', -1))).toBe('MW_ERR_BAD_MONITOR');
  });
});

describe('series snapshots and define listeners', () => {
  it('restore replaces a series content', () => {
    const { store } = makeStore();
    store.series.define('s', 'cidr', 60, 3);
    store.series.add('s', parseAddress('192.0.2.1'), 4);
    const snap = store.series.snapshot('s');
    store.series.add('s', parseAddress('192.0.2.2'), 1);
    expect(store.series.restore(snap)).toBe(1);
    expect(store.series.count('s', parseCidr('192.0.2.0/24'))).toBe(4);
    expect(errorCode(() => store.series.restore(snap, 'nope'))).toBe('MW_ERR_UNKNOWN_SERIES');
  });

  it('restores into another series of the same shape by name', () => {
    const { store } = makeStore();
    store.series.define('a', 'string', 60, 3);
    store.series.define('b', 'string', 60, 3);
    store.series.add('a', 'k', 2);
    expect(store.series.restore(store.series.snapshot('a'), 'b')).toBe(1);
    expect(store.series.count('b', 'k')).toBe(2);
  });

  it('tells listeners about every define until they unsubscribe', () => {
    const { store } = makeStore();
    const seen: string[] = [];
    const off = store.series.onDefine((n) => seen.push(n));
    store.series.define('a', 'cidr', 60, 3);
    store.series.define('a', 'cidr', 60, 3);
    store.series.define('a', 'cidr', 60, 4);
    expect(() => store.series.define('b', 'nope' as 'cidr', 60, 3)).toThrow();
    off();
    store.series.define('c', 'cidr', 60, 3);
    expect(seen).toEqual(['a', 'a', 'a']);
  });
});
