import { describe, expect, it } from 'vitest';
import { parseAddress, parseCidr } from '../../src/audit/address.ts';
import { errorCode, makeStore, warnings } from './helpers.ts';

const A = parseAddress('198.51.100.5');
const B = parseAddress('198.51.100.77');
const V6 = parseAddress('2001:db8::1');

describe('SeriesRegistry define', () => {
  it('defines series of the three types with validated default options', () => {
    const { store } = makeStore();
    store.series.define('bad_rcpt', 'cidr', 900, 8, { persist: true });
    store.series.define('bad_rcpt6', 'cidr_ipv6', 900, 8);
    store.series.define('senders', 'string', 60, 12, { serialize: true, replicate: 'none' });
    expect(store.series.has('bad_rcpt')).toBe(true);
    expect(store.series.has('nope')).toBe(false);
    expect(store.series.info('bad_rcpt')).toEqual({
      name: 'bad_rcpt',
      type: 'cidr',
      interval: 900,
      windows: 8,
      options: { persist: true, serialize: false, replicate: 'none' },
      keys: 0,
    });
    expect(store.series.list().map((s) => s.name)).toEqual(['bad_rcpt', 'bad_rcpt6', 'senders']);
    expect(store.stats().series).toBe(3);
  });

  it('is idempotent for the same shape and keeps the data', () => {
    const { store, records } = makeStore();
    store.series.define('s', 'cidr', 300, 12);
    store.series.add('s', A, 4);
    store.series.define('s', 'cidr', 300, 12);
    expect(store.series.count('s', parseCidr('/32', A))).toBe(4);
    expect(warnings(records)).toEqual([]);
  });

  it('updates options in place without losing data', () => {
    const { store } = makeStore();
    store.series.define('s', 'string', 300, 12);
    store.series.add('s', 'k', 2);
    store.series.define('s', 'string', 300, 12, { persist: true });
    expect(store.series.info('s').options.persist).toBe(true);
    expect(store.series.count('s', 'k')).toBe(2);
  });

  it('rebuilds a reshaped series empty and warns', () => {
    const { store, records } = makeStore();
    store.series.define('s', 'cidr', 300, 12);
    store.series.add('s', A, 4);
    store.series.define('s', 'cidr', 300, 6);
    expect(store.series.count('s', parseCidr('/32', A))).toBe(0);
    expect(store.series.info('s').windows).toBe(6);
    store.series.define('s', 'string', 300, 6);
    expect(store.series.info('s').type).toBe('string');
    expect(warnings(records).filter((m) => m.includes('redefined'))).toHaveLength(2);
  });

  it('applies replicate=cluster locally on a single node, with a warning', () => {
    const { store, records } = makeStore();
    store.series.define('s', 'cidr', 300, 12, { replicate: 'cluster' });
    store.series.add('s', A);
    expect(store.series.count('s', parseCidr('/32', A))).toBe(1);
    expect(records.find((r) => r.msg.includes('not clustered'))?.['replicate']).toBe('cluster');
  });

  it.each([
    ['', 'cidr', 300, 12, undefined],
    ['a/b', 'cidr', 300, 12, undefined],
    ['..', 'cidr', 300, 12, undefined],
    ['x'.repeat(300), 'cidr', 300, 12, undefined],
    ['bell\u0007', 'cidr', 300, 12, undefined],
    [42, 'cidr', 300, 12, undefined],
    ['s', 'ipv4', 300, 12, undefined],
    ['s', 'cidr', 0, 12, undefined],
    ['s', 'cidr', -300, 12, undefined],
    ['s', 'cidr', 2.5, 12, undefined],
    ['s', 'cidr', Number.NaN, 12, undefined],
    ['s', 'cidr', Number.POSITIVE_INFINITY, 12, undefined],
    ['s', 'cidr', 300, 0, undefined],
    ['s', 'cidr', 300, 1e6, undefined],
    ['s', 'cidr', 300, 12, { replicate: 'everyone' }],
    ['s', 'cidr', 300, 12, { persist: 'yes' }],
    ['s', 'cidr', 300, 12, { persists: true }],
    ['s', 'cidr', 300, 12, 'persist'],
  ])('rejects define(%j, %j, %j, %j, %j) with MW_ERR_BAD_SERIES and defines nothing', (name, type, interval, windows, options) => {
    const { store } = makeStore();
    expect(errorCode(() => store.series.define(name as string, type as 'cidr', interval as number, windows as number, options as never))).toBe(
      'MW_ERR_BAD_SERIES',
    );
    expect(store.series.size).toBe(0);
  });
});

describe('SeriesRegistry add, count, remove_item', () => {
  it('adds signed counts truncated toward zero', () => {
    const { store } = makeStore();
    store.series.define('s', 'cidr', 300, 12);
    store.series.add('s', A);
    store.series.add('s', A, 2.9);
    store.series.add('s', B, -1.9);
    store.series.add('s', B, 0.4);
    const c = (x: string) => store.series.count('s', parseCidr(x));
    expect(c('198.51.100.5')).toBe(3);
    expect(c('198.51.100.77')).toBe(-1);
    expect(c('198.51.100.0/24')).toBe(2);
  });

  it('holds counts far beyond int32 exactly', () => {
    const { store } = makeStore();
    store.series.define('s', 'string', 300, 12);
    store.series.define('t', 'cidr', 300, 12);
    for (let i = 0; i < 3; i++) {
      store.series.add('s', 'k', 1e12);
      store.series.add('t', A, 1e12);
    }
    expect(store.series.count('s', 'k')).toBe(3e12);
    expect(store.series.count('t', parseCidr('198.51.100.0/24'))).toBe(3e12);
    expect(store.series.count('t', parseCidr('0.0.0.0/0'))).toBe(3e12);
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2 ** 60, '3'])('refuses count %j with MW_ERR_BAD_COUNT', (n) => {
    const { store } = makeStore();
    store.series.define('s', 'cidr', 300, 12);
    store.series.define('t', 'string', 300, 12);
    expect(errorCode(() => store.series.add('s', A, n as number))).toBe('MW_ERR_BAD_COUNT');
    expect(errorCode(() => store.series.add('t', 'k', n as number))).toBe('MW_ERR_BAD_COUNT');
    expect(store.series.count('s', parseCidr('0.0.0.0/0'))).toBe(0);
    expect(store.series.count('t', 'k')).toBe(0);
  });

  it('sums windows startv..endv with the spec clamping rules', () => {
    const { store, clock } = makeStore();
    store.series.define('s', 'string', 60, 3);
    store.series.add('s', 'k', 1);
    clock.advance(60_000);
    store.series.add('s', 'k', 10);
    clock.advance(60_000);
    store.series.add('s', 'k', 100);
    expect(store.series.count('s', 'k')).toBe(100);
    expect(store.series.count('s', 'k', 0, 2)).toBe(111);
    expect(store.series.count('s', 'k', 2, 1)).toBe(11);
    expect(store.series.count('s', 'k', 1, 99)).toBe(11);
    expect(errorCode(() => store.series.count('s', 'k', Number.NaN))).toBe('MW_ERR_BAD_COUNT');
    clock.advance(60_000);
    expect(store.series.count('s', 'k', 0, 2)).toBe(110);
  });

  it('counts IP series by block, relative masks included', () => {
    const { store } = makeStore();
    store.series.define('s', 'cidr', 300, 12);
    store.series.add('s', A, 3);
    store.series.add('s', B, 2);
    expect(store.series.count('s', parseCidr('/24', B))).toBe(5);
    expect(store.series.count('s', parseCidr('/32', B))).toBe(2);
    expect(store.series.count('s', A as never)).toBe(3); // a bare address means its host block
  });

  it('treats IPv4-mapped keys as IPv4', () => {
    const { store } = makeStore();
    store.series.define('s', 'cidr', 300, 12);
    store.series.add('s', parseAddress('::ffff:198.51.100.5'));
    expect(store.series.count('s', parseCidr('198.51.100.5'))).toBe(1);
  });

  it('ignores wrong-family keys with a debug line (spec §14 #12)', () => {
    const { store, records } = makeStore();
    store.series.define('v4', 'cidr', 300, 12);
    store.series.define('v6', 'cidr_ipv6', 300, 12);
    store.series.add('v4', V6, 5);
    store.series.add('v6', A, 5);
    store.series.add('v6', V6, 2);
    expect(store.series.count('v4', parseCidr('::/0'))).toBe(0);
    expect(store.series.count('v6', parseCidr('0.0.0.0/0'))).toBe(0);
    expect(store.series.count('v6', parseCidr('2001:db8::/32'))).toBe(2);
    expect(store.series.removeItem('v4', V6)).toBe(false);
    const debug = records.filter((r) => r.msg.includes('address family does not match'));
    expect(debug.map((r) => r['op'])).toEqual(['add', 'add', 'count', 'count', 'remove_item']);
    expect(debug.every((r) => r.level === 20)).toBe(true);
  });

  it('refuses string keys for IP series, addresses for string series, and over-long keys', () => {
    const { store } = makeStore();
    store.series.define('ip', 'cidr', 300, 12);
    store.series.define('str', 'string', 300, 12);
    expect(errorCode(() => store.series.add('ip', '198.51.100.5'))).toBe('MW_ERR_BAD_SERIES');
    expect(errorCode(() => store.series.count('ip', '198.51.100.5'))).toBe('MW_ERR_BAD_SERIES');
    expect(errorCode(() => store.series.add('ip', parseCidr('198.51.100.0/24') as never))).toBe('MW_ERR_BAD_SERIES');
    expect(errorCode(() => store.series.add('str', A))).toBe('MW_ERR_BAD_SERIES');
    expect(errorCode(() => store.series.count('str', parseCidr('/24', A)))).toBe('MW_ERR_BAD_SERIES');
    expect(errorCode(() => store.series.add('str', 'é'.repeat(600)))).toBe('MW_ERR_BAD_SERIES');
    store.series.add('str', 'x'.repeat(1024));
    expect(store.series.count('str', 'x'.repeat(1024))).toBe(1);
  });

  it('refuses unknown series with MW_ERR_UNKNOWN_SERIES', () => {
    const { store } = makeStore();
    expect(errorCode(() => store.series.add('nope', A))).toBe('MW_ERR_UNKNOWN_SERIES');
    expect(errorCode(() => store.series.count('nope', 'k'))).toBe('MW_ERR_UNKNOWN_SERIES');
    expect(errorCode(() => store.series.removeItem('nope', 'k'))).toBe('MW_ERR_UNKNOWN_SERIES');
    expect(errorCode(() => store.series.info('nope'))).toBe('MW_ERR_UNKNOWN_SERIES');
  });

  it('removes an item from every window and from the block sums', () => {
    const { store, clock } = makeStore();
    store.series.define('s', 'cidr', 60, 4);
    store.series.define('t', 'string', 60, 4);
    for (let w = 0; w < 3; w++) {
      store.series.add('s', A, 2);
      store.series.add('s', B, 1);
      store.series.add('t', 'a', 2);
      store.series.add('t', 'b', 1);
      clock.advance(60_000);
    }
    expect(store.series.removeItem('s', A)).toBe(true);
    expect(store.series.removeItem('s', A)).toBe(false);
    expect(store.series.count('s', parseCidr('198.51.100.0/24'), 0, 3)).toBe(3);
    expect(store.series.count('s', parseCidr('0.0.0.0/0'), 0, 3)).toBe(3);
    expect(store.series.count('s', parseCidr('198.51.100.5'), 0, 3)).toBe(0);
    expect(store.series.removeItem('t', 'a')).toBe(true);
    expect(store.series.count('t', 'a', 0, 3)).toBe(0);
    expect(store.series.count('t', 'b', 0, 3)).toBe(3);
  });

  it('caps string series: new keys at the cap are refused and counted, tracked keys keep counting', () => {
    const { store, records } = makeStore({ maxTrackedPerSeries: 3 });
    store.series.define('t', 'string', 60, 2);
    for (const k of ['a', 'b', 'c', 'd', 'e']) store.series.add('t', k);
    store.series.add('t', 'a', 5);
    expect(store.series.count('t', 'a')).toBe(6);
    expect(store.series.count('t', 'd')).toBe(0);
    expect(store.stats().degradedEvents).toBe(2);
    expect(store.series.info('t').keys).toBe(3);
    expect(warnings(records).filter((m) => m.includes('cap'))).toHaveLength(1);
  });

  it('caps IP series by folding into /24 like the monitors', () => {
    const { store } = makeStore({ maxTrackedPerSeries: 2 });
    store.series.define('s', 'cidr', 60, 2);
    for (let i = 1; i <= 5; i++) store.series.add('s', parseAddress(`192.0.2.${i}`));
    expect(store.series.count('s', parseCidr('192.0.2.0/24'))).toBe(5);
    expect(store.series.count('s', parseCidr('192.0.2.5'))).toBe(0);
    expect(store.stats().degradedEvents).toBe(3);
    expect(store.series.info('s').keys).toBe(2);
  });

  it('frees aged-out entries on maintain', () => {
    const { store, clock } = makeStore();
    store.series.define('s', 'cidr', 60, 2);
    store.series.define('t', 'string', 60, 2);
    store.series.add('s', A);
    store.series.add('t', 'k');
    clock.advance(5 * 60_000);
    store.maintain();
    expect(store.series.info('s').keys).toBe(0);
    expect(store.series.info('t').keys).toBe(0);
  });
});
