import { describe, expect, it } from 'vitest';
import { ipv4, ipv6, parseAddress, parseCidr } from '../../src/audit/address.ts';
import { V6_HOSTS_PER_64 } from '../../src/audit/hot-v6.ts';
import { makeStore, warnings } from './helpers.ts';
import { rng } from './model.ts';

const net16 = 0x0a140000; // 10.20.0.0/16

describe('AuditStore cap on tracked addresses', () => {
  it('folds events of new addresses into their /24 at the cap, keeping wider blocks exact and counting them', () => {
    const { store, records } = makeStore({ monitors: ['300,6'], maxTrackedPerMonitor: 100 });
    // 100 hosts fill the cap: 10.20.0.0–10.20.0.99.
    for (let i = 0; i < 100; i++) store.record('connections', ipv4(net16 + i));
    expect(store.stats()).toMatchObject({ trackedAddresses: 100, degradedEvents: 0 });
    expect(warnings(records)).toEqual([]);
    // 50 new hosts in 10.20.1.0/24, twice each.
    for (let r = 0; r < 2; r++) for (let i = 0; i < 50; i++) store.record('connections', ipv4(net16 + 256 + i));
    const stats = store.stats();
    expect(stats.trackedAddresses).toBe(100);
    expect(stats.degradedEvents).toBe(100);
    const c = (cidr: string) => store.count('connections', '300,6', parseCidr(cidr));
    expect(c('10.20.1.0/24')).toBe(100);
    expect(c('10.20.0.0/16')).toBe(200);
    expect(c('10.0.0.0/8')).toBe(200);
    expect(c('0.0.0.0/0')).toBe(200);
    expect(c('10.20.1.7/32')).toBe(0); // per-address precision is what degrades
    // Tracked addresses keep counting exactly.
    store.record('connections', ipv4(net16 + 7));
    expect(c('10.20.0.7/32')).toBe(2);
    expect(warnings(records).filter((m) => m.includes('cap'))).toHaveLength(1);
  });

  it('shares one cap across the metrics of the configured monitors', () => {
    const { store } = makeStore({ maxTrackedPerMonitor: 10 });
    for (let i = 0; i < 10; i++) store.record('connections', ipv4(net16 + i));
    store.record('rejections', ipv4(net16 + 50));
    expect(store.stats().degradedEvents).toBe(1);
    expect(store.count('rejections', '1800,4', parseCidr('10.20.0.0/24'))).toBe(1);
    expect(store.count('rejections', '300,6', parseCidr('10.20.0.50'))).toBe(0);
  });

  it('stays within the cap under a spray of 1,000,000 random IPv6 addresses in one /64', () => {
    const cap = 5000;
    const { store } = makeStore({ monitors: ['300,6', '1800,4'], maxTrackedPerMonitor: cap });
    const next = rng(42);
    const w0 = 0x20010db8;
    const w1 = 0x00070001;
    for (let i = 0; i < 1_000_000; i++) store.record('connections', ipv6(w0, w1, next(), next()));
    const stats = store.stats();
    // The /64's host allowance is reached long before the cap.
    expect(stats.trackedAddresses).toBe(V6_HOSTS_PER_64);
    expect(stats.degradedEvents).toBe(1_000_000 - V6_HOSTS_PER_64);
    const c = (cidr: string, m = '300,6') => store.count('connections', m, parseCidr(cidr));
    expect(c('2001:db8:7:1::/64')).toBe(1_000_000);
    expect(c('2001:db8:7::/48')).toBe(1_000_000);
    expect(c('2001:db8::/32', '1800,4')).toBe(1_000_000);
    expect(c('::/0')).toBe(1_000_000);
  });

  it('bounds a spray over many /64s too, folding into /48 once the /64 tier is full', () => {
    const cap = 200;
    const { store } = makeStore({ monitors: ['300,6'], maxTrackedPerMonitor: cap });
    const next = rng(7);
    for (let i = 0; i < 20_000; i++) store.record('connections', ipv6(0x20010db8, (next() & 0xffff) | 0x00090000, next(), next()));
    expect(store.stats().trackedAddresses).toBeLessThanOrEqual(cap);
    expect(store.count('connections', '300,6', parseCidr('2001:db8:9::/48'))).toBe(20_000);
    expect(store.count('connections', '300,6', parseCidr('2001:db8::/32'))).toBe(20_000);
  });

  it('frees the cap when windows age out, and warns again on the next episode', () => {
    const { store, clock, records } = makeStore({ monitors: ['60,2'], maxTrackedPerMonitor: 10 });
    for (let i = 0; i < 20; i++) store.record('connections', ipv4(net16 + i));
    expect(store.stats().degradedEvents).toBe(10);
    clock.advance(3 * 60_000);
    store.maintain();
    expect(store.stats().trackedAddresses).toBe(0);
    for (let i = 100; i < 120; i++) store.record('connections', ipv4(net16 + i));
    expect(store.count('connections', '60,2', parseCidr('10.20.0.105'))).toBe(1);
    expect(store.count('connections', '60,2', parseCidr('10.20.0.115'))).toBe(0);
    expect(store.stats().degradedEvents).toBe(20);
    expect(warnings(records).filter((m) => m.includes('cap'))).toHaveLength(2);
  });


  it('frees the cap by itself once windows age out, even without maintain', () => {
    const { store, clock } = makeStore({ monitors: ['60,2'], maxTrackedPerMonitor: 10 });
    for (let i = 0; i < 10; i++) store.record('connections', ipv4(net16 + i));
    clock.advance(3 * 60_000);
    for (let i = 100; i < 110; i++) store.record('connections', ipv4(net16 + i));
    expect(store.stats()).toMatchObject({ trackedAddresses: 10, degradedEvents: 0 });
    expect(store.count('connections', '60,2', parseCidr('10.20.0.109'))).toBe(1);
  });
});

describe('AuditStore housekeeping', () => {
  it('frees every entry once it has fallen out of every window', () => {
    const { store, clock } = makeStore();
    const next = rng(1);
    for (let i = 0; i < 5000; i++) store.record(i % 3 === 0 ? 'rejections' : 'connections', ipv4(next()));
    for (let i = 0; i < 500; i++) store.record('receptions', ipv6(0x20010db8, next(), next(), next()));
    expect(store.stats().trackedAddresses).toBe(5500);
    clock.advance(40 * 60_000); // past the 300,6 monitor only
    store.maintain();
    expect(store.stats().trackedAddresses).toBe(5500); // the 1800,4 windows still hold them
    expect(store.count('connections', '1800,4', parseCidr('0.0.0.0/0'), 0, 3)).toBeGreaterThan(3000);
    clock.advance(2 * 3600_000);
    store.maintain();
    expect(store.stats().trackedAddresses).toBe(0);
    expect(store.count('connections', '1800,4', parseCidr('0.0.0.0/0'), 0, 3)).toBe(0);
  });

  it('keeps a migrated window readable after maintain', () => {
    const { store, clock } = makeStore();
    const a = parseAddress('192.0.2.1');
    store.record('connections', a);
    clock.advance(5 * 60_000);
    store.record('connections', a);
    store.maintain();
    expect(store.windows('connections', '300,6', parseCidr('192.0.2.0/24'))).toEqual([1, 1, 0, 0, 0, 0]);
    expect(store.stats().trackedAddresses).toBe(2);
  });
});
