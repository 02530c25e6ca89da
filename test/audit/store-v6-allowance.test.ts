/**
 * IPv6 at the cap (issue 16): one peer owns a whole /64, so a /64 may hold at
 * most V6_HOSTS_PER_64 host entries; its further addresses aggregate at /64.
 * A spray inside one /64 then costs what one /64 costs, and never uses up the
 * cap other senders share.
 */
import { describe, expect, it } from 'vitest';
import { ipv6, parseCidr } from '../../src/audit/address.ts';
import { V6_HOSTS_PER_64 } from '../../src/audit/hot-v6.ts';
import { makeStore } from './helpers.ts';
import { rng } from './model.ts';

const W0 = 0x20010db8;
const W1 = 0x00070001;

describe('per-/64 host allowance', () => {
  it('a spray of 1,000,000 /128s in one /64 tracks the allowance, counts every event at /64 and leaves the cap to others', () => {
    const { store } = makeStore({ monitors: ['300,6', '1800,4'], maxTrackedPerMonitor: 1_000_000 });
    const next = rng(3);
    const first: number[][] = [];
    for (let i = 0; i < 1_000_000; i++) {
      const w = [next(), next()];
      if (i < V6_HOSTS_PER_64) first.push(w);
      store.record('connections', ipv6(W0, W1, w[0]!, w[1]!));
    }
    expect(store.stats()).toMatchObject({ trackedAddresses: V6_HOSTS_PER_64, degradedEvents: 1_000_000 - V6_HOSTS_PER_64 });
    const c = (cidr: string) => store.count('connections', '300,6', parseCidr(cidr));
    expect(c('2001:db8:7:1::/64')).toBe(1_000_000);
    expect(c('2001:db8:7::/48')).toBe(1_000_000);
    expect(c('::/0')).toBe(1_000_000);
    // The addresses admitted first keep their own counts.
    const hex = (n: number) => [(n >>> 16).toString(16), (n & 0xffff).toString(16)].join(':');
    for (const [a, b] of first.slice(0, 5)) expect(c(`2001:db8:7:1:${hex(a!)}:${hex(b!)}`)).toBe(1);
    // Another /64 of the same sender's /48 still gets per-address counts.
    store.record('connections', ipv6(W0, W1 + 1, 0, 1));
    expect(c('2001:db8:7:2::1')).toBe(1);
    expect(store.stats().trackedAddresses).toBe(V6_HOSTS_PER_64 + 1);
  });

  it('gives a place back when a host entry goes: removed from a series, or aged out', () => {
    const { store, clock } = makeStore({ monitors: ['60,2'] });
    store.series.define('v6', 'cidr_ipv6', 60, 2);
    for (let i = 0; i < V6_HOSTS_PER_64 + 10; i++) store.series.add('v6', ipv6(W0, W1, 0, i + 1), 1);
    const host = (i: number) => store.series.count('v6', parseCidr(`2001:db8:7:1::${(i + 1).toString(16)}`));
    expect(host(V6_HOSTS_PER_64 + 5)).toBe(0);
    expect(store.series.info('v6').keys).toBe(V6_HOSTS_PER_64);
    // Deleting one admitted address frees one place for the next new one.
    expect(store.series.removeItem('v6', ipv6(W0, W1, 0, 1))).toBe(true);
    store.series.add('v6', ipv6(W0, W1, 0, 0x1000), 2);
    expect(store.series.count('v6', parseCidr('2001:db8:7:1::1000'))).toBe(2);
    store.series.add('v6', ipv6(W0, W1, 0, 0x1001), 2);
    expect(store.series.count('v6', parseCidr('2001:db8:7:1::1001'))).toBe(0);
    expect(store.series.count('v6', parseCidr('2001:db8:7:1::/64'))).toBe(V6_HOSTS_PER_64 + 10 - 1 + 4);

    // Monitors: once every window has aged out, the /64 starts with a full allowance again.
    for (let i = 0; i < V6_HOSTS_PER_64 * 2; i++) store.record('connections', ipv6(W0, W1, 1, i));
    expect(store.stats().trackedAddresses).toBe(V6_HOSTS_PER_64);
    clock.advance(4 * 60_000);
    store.maintain();
    expect(store.stats().trackedAddresses).toBe(0);
    for (let i = 0; i < V6_HOSTS_PER_64; i++) store.record('connections', ipv6(W0, W1, 2, i));
    expect(store.stats()).toMatchObject({ trackedAddresses: V6_HOSTS_PER_64 });
    expect(store.count('connections', '60,2', parseCidr(`2001:db8:7:1:0:2:0:${(V6_HOSTS_PER_64 - 1).toString(16)}`))).toBe(1);
  });

  it('a count that returns to zero frees its place', () => {
    const { store } = makeStore({ monitors: ['60,2'] });
    store.series.define('v6', 'cidr_ipv6', 60, 2);
    for (let i = 0; i < V6_HOSTS_PER_64; i++) store.series.add('v6', ipv6(W0, W1, 0, i + 1), 1);
    store.series.add('v6', ipv6(W0, W1, 0, 1), -1);
    store.series.add('v6', ipv6(W0, W1, 9, 9), 5);
    expect(store.series.count('v6', parseCidr('2001:db8:7:1:0:9:0:9'))).toBe(5);
  });
});
