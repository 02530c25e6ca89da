import { describe, expect, it } from 'vitest';
import { parseAddress, parseCidr } from '../../src/audit/address.ts';
import { MAX_MONITORS } from '../../src/audit/store.ts';
import { errorCode, makeStore, T0, warnings } from './helpers.ts';

const A = parseAddress('198.51.100.5');
const B = parseAddress('198.51.100.77');
const host = (a: ReturnType<typeof parseAddress>) => parseCidr('/32', a);
const MIN = 60_000;

describe('AuditStore metrics and windows', () => {
  it('sums an address block over the addresses recorded in it (spec §5.1 example)', () => {
    const { store } = makeStore();
    for (let i = 0; i < 3; i++) store.record('connections', A);
    for (let i = 0; i < 2; i++) store.record('connections', B);
    expect(store.count('connections', '300,6', parseCidr('/24', B))).toBe(5);
    expect(store.count('connections', '300,6', parseCidr('/32', B))).toBe(2);
    expect(store.count('connections', '1800,4', parseCidr('198.51.100.0/26'))).toBe(3);
  });

  it('keeps the three metrics apart', () => {
    const { store } = makeStore();
    store.record('connections', A);
    store.record('receptions', A);
    store.record('receptions', A);
    store.record('rejections', A);
    store.record('rejections', A);
    store.record('rejections', A);
    expect(['connections', 'receptions', 'rejections'].map((m) => store.count(m as 'connections', '300,6', host(A)))).toEqual([1, 2, 3]);
  });

  it('aligns windows to epoch multiples of their length', () => {
    const { store, clock } = makeStore({}, T0 + 4 * MIN + 59_000); // 10:04:59
    store.record('connections', A);
    clock.set(T0 + 5 * MIN); // 10:05:00 starts a new 300 s window, not a new 1800 s one
    store.record('connections', A);
    store.record('connections', A);
    expect(store.windows('connections', '300,6', host(A))).toEqual([2, 1, 0, 0, 0, 0]);
    expect(store.windows('connections', '1800,4', host(A))).toEqual([3, 0, 0, 0]);
  });

  it('rotates lazily through every window and forgets the oldest', () => {
    const { store, clock } = makeStore();
    for (let w = 0; w < 8; w++) {
      for (let i = 0; i <= w; i++) store.record('connections', A);
      clock.advance(5 * MIN);
    }
    clock.advance(-5 * MIN);
    // Windows 0..5 hold the last six windows' 8, 7, ..., 3 events; 2 and 1 aged out.
    expect(store.windows('connections', '300,6', host(A))).toEqual([8, 7, 6, 5, 4, 3]);
    expect(store.count('connections', '300,6', host(A), 0, 5)).toBe(33);
    expect(store.count('connections', '300,6', host(A), 2, 3)).toBe(11);
    // 40 minutes of events: the 1800 s monitor saw 10:00-10:30 and 10:30-10:40.
    expect(store.windows('connections', '1800,4', host(A))).toEqual([7 + 8, 1 + 2 + 3 + 4 + 5 + 6, 0, 0]);
  });

  it('reads 0 everywhere after downtime longer than N·W, and counts again afterwards', () => {
    const { store, clock } = makeStore();
    for (let i = 0; i < 5; i++) store.record('connections', A);
    clock.advance(2 * 3600_000 + 1800_000); // 2.5 h: longer than both monitors
    expect(store.count('connections', '300,6', host(A), 0, 5)).toBe(0);
    expect(store.count('connections', '1800,4', host(A), 0, 3)).toBe(0);
    expect(store.smoothed('connections', '1800,4', host(A))).toBe(0);
    store.record('connections', A);
    expect(store.count('connections', '1800,4', host(A), 0, 3)).toBe(1);
  });

  it('never rotates backwards when the clock steps back', () => {
    const { store, clock } = makeStore({}, T0 + 7 * MIN); // window 10:05-10:10
    store.record('connections', A);
    clock.set(T0 - 10 * MIN); // 09:50: treated as the same (newest) window
    store.record('connections', A);
    expect(store.windows('connections', '300,6', host(A))).toEqual([2, 0, 0, 0, 0, 0]);
    clock.set(T0 + 9 * MIN); // still 10:05-10:10
    store.record('connections', A);
    expect(store.windows('connections', '300,6', host(A))).toEqual([3, 0, 0, 0, 0, 0]);
    clock.set(T0 + 10 * MIN);
    expect(store.windows('connections', '300,6', host(A))).toEqual([0, 3, 0, 0, 0, 0]);
  });

  it('clamps, floors and swaps window bounds (spec §4.3)', () => {
    const { store, clock } = makeStore();
    for (let w = 0; w < 6; w++) {
      for (let i = 0; i < 2 ** w; i++) store.record('connections', A);
      clock.advance(5 * MIN);
    }
    clock.advance(-5 * MIN);
    const c = (s: number, e: number) => store.count('connections', '300,6', host(A), s, e);
    expect(store.windows('connections', '300,6', host(A))).toEqual([32, 16, 8, 4, 2, 1]);
    expect(c(0, 0)).toBe(32);
    expect(c(-3, 0)).toBe(32);
    expect(c(1.9, 2.2)).toBe(16 + 8);
    expect(c(2, 1)).toBe(16 + 8);
    expect(c(4, 99)).toBe(2 + 1);
    expect(c(0, Number.POSITIVE_INFINITY)).toBe(63);
    expect(c(Number.NEGATIVE_INFINITY, -1)).toBe(32);
    expect(store.count('connections', '300,6', host(A))).toBe(32);
  });

  it('refuses NaN and non-number bounds with MW_ERR_BAD_COUNT', () => {
    const { store } = makeStore();
    expect(errorCode(() => store.count('connections', '300,6', host(A), Number.NaN, 0))).toBe('MW_ERR_BAD_COUNT');
    expect(errorCode(() => store.count('connections', '300,6', host(A), 0, Number.NaN))).toBe('MW_ERR_BAD_COUNT');
    expect(errorCode(() => store.count('connections', '300,6', host(A), '1' as unknown as number, 0))).toBe('MW_ERR_BAD_COUNT');
  });

  it('computes the smoothed value of the spec §4.4 worked example', () => {
    const { store, clock } = makeStore({}, T0 - 5 * MIN); // 09:55: the previous window
    const ip = parseAddress('203.0.113.9');
    const rec = (n: number) => {
      for (let i = 0; i < n; i++) store.record('connections', ip);
    };
    rec(500);
    clock.set(T0 + 1 * MIN); // 10:01
    rec(120);
    expect(store.smoothed('connections', '300,6', host(ip))).toBe(520);
    expect(store.count('connections', '300,6', host(ip))).toBe(120);
    clock.set(T0 + 4 * MIN); // 10:04
    rec(300);
    expect(store.smoothed('connections', '300,6', host(ip))).toBe(520);
    expect(store.count('connections', '300,6', host(ip))).toBe(420);
    rec(60); // the window ends with 480
    clock.set(T0 + 5 * MIN); // 10:05
    expect(store.smoothed('connections', '300,6', host(ip))).toBe(480);
    expect(store.count('connections', '300,6', host(ip))).toBe(0);
    clock.set(T0 + 7 * MIN + 30_000); // 10:07:30
    rec(250);
    expect(store.smoothed('connections', '300,6', host(ip))).toBe(490);
    expect(store.count('connections', '300,6', host(ip))).toBe(250);
  });

  it('smooths an N = 1 monitor with its hidden window', () => {
    const { store, clock } = makeStore({ monitors: ['60,1'] });
    for (let i = 0; i < 100; i++) store.record('connections', A);
    clock.advance(MIN + 15_000); // next window, a quarter through
    for (let i = 0; i < 10; i++) store.record('connections', A);
    expect(store.count('connections', '60,1', host(A), 0, 5)).toBe(10);
    expect(store.windows('connections', '60,1', host(A))).toEqual([10]);
    expect(store.smoothed('connections', '60,1', host(A))).toBe(10 + 75);
  });

  it('treats IPv4-mapped IPv6 as the IPv4 address', () => {
    const { store } = makeStore();
    store.record('connections', parseAddress('::ffff:198.51.100.5'));
    store.record('connections', A);
    expect(store.count('connections', '300,6', parseCidr('198.51.100.5'))).toBe(2);
    expect(store.count('connections', '300,6', parseCidr('::ffff:198.51.100.0/120'))).toBe(2);
    expect(store.count('connections', '300,6', parseCidr('::/0'))).toBe(0);
  });

  it('scopes /0 to the reference address family', () => {
    const { store } = makeStore();
    store.record('connections', A);
    store.record('connections', parseAddress('2001:db8::1'));
    store.record('connections', parseAddress('2001:db8::2'));
    expect(store.count('connections', '300,6', parseCidr('/0', A))).toBe(1);
    expect(store.count('connections', '300,6', parseCidr('/0', parseAddress('2001:db8::9')))).toBe(2);
  });

  it('rejects an unknown metric and a hand-made bad block', () => {
    const { store } = makeStore();
    expect(errorCode(() => store.record('logins' as 'connections', A))).toBe('MW_ERR_BAD_METRIC');
    expect(errorCode(() => store.count('logins' as 'connections', '300,6', host(A)))).toBe('MW_ERR_BAD_METRIC');
    expect(errorCode(() => store.count('connections', '300,6', { addr: A, prefix: 40 }))).toBe('MW_ERR_BAD_MASK');
    expect(errorCode(() => store.count('connections', '300,6', null as never))).toBe('MW_ERR_BAD_ADDRESS');
  });

  it('masks a hand-made block whose host bits are set', () => {
    const { store } = makeStore();
    store.record('connections', A);
    expect(store.count('connections', '300,6', { addr: B, prefix: 24 })).toBe(1);
  });
});

describe('AuditStore monitors', () => {
  it('lists canonical monitors in configured order, duplicates collapsed', () => {
    const { store } = makeStore({ monitors: [' 1800 , 4', '300,6', '300, 6'] });
    expect(store.monitors()).toEqual(['1800,4', '300,6']);
  });

  it.each(['0,6', '300,0', '-300,6', '300.5,6', '300', '300,6,1', 'a,b', '', '300;6', '99999999999,1', '1,100000'])(
    'rejects monitor %j with MW_ERR_BAD_MONITOR',
    (m) => {
      expect(errorCode(() => makeStore({ monitors: [m] }))).toBe('MW_ERR_BAD_MONITOR');
      const { store } = makeStore();
      expect(errorCode(() => store.count('connections', m, host(A)))).toBe('MW_ERR_BAD_MONITOR');
    },
  );

  it('finds a configured monitor by a non-canonical spelling', () => {
    const { store, records } = makeStore();
    store.record('connections', A);
    expect(store.count('connections', ' 300 ,6 ', host(A))).toBe(1);
    expect(warnings(records)).toEqual([]);
  });

  it('creates an unknown monitor lazily, counting from then on, and warns once', () => {
    const { store, records, clock } = makeStore();
    store.record('connections', A);
    expect(store.count('connections', '60,1', host(A))).toBe(0);
    expect(store.monitors()).toEqual(['300,6', '1800,4', '60,1']);
    store.record('connections', A);
    expect(store.count('connections', '60,1', host(A))).toBe(1);
    expect(store.count('connections', '60, 1', host(A))).toBe(1);
    clock.advance(MIN);
    expect(store.windows('connections', '60,1', host(A))).toEqual([0]);
    expect(warnings(records).filter((m) => m.includes('not configured'))).toHaveLength(1);
    expect(records.find((r) => r.msg.includes('not configured'))?.['monitor']).toBe('60,1');
  });

  it('refuses unknown monitors in strict mode', () => {
    const { store } = makeStore({ strictMonitors: true });
    expect(errorCode(() => store.count('connections', '60,1', host(A)))).toBe('MW_ERR_UNKNOWN_MONITOR');
    expect(store.monitors()).toEqual(['300,6', '1800,4']);
  });

  it('limits how many monitors scripts can create', () => {
    const { store } = makeStore({ monitors: [] });
    for (let i = 1; i <= MAX_MONITORS; i++) store.count('connections', `${i},1`, host(A));
    expect(errorCode(() => store.count('connections', '9999,1', host(A)))).toBe('MW_ERR_UNKNOWN_MONITOR');
    expect(store.stats().monitors).toBe(MAX_MONITORS);
  });

  it('validates the caps', () => {
    expect(errorCode(() => makeStore({ maxTrackedPerMonitor: 0 }))).toBe('MW_ERR_BAD_MONITOR');
    expect(errorCode(() => makeStore({ maxTrackedPerMonitor: 1.5 }))).toBe('MW_ERR_BAD_MONITOR');
    expect(errorCode(() => makeStore({ maxTrackedPerSeries: -1 }))).toBe('MW_ERR_BAD_SERIES');
  });
});
