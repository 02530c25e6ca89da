import { describe, expect, it } from 'vitest';
import { parseAddress, parseCidr } from '../../src/audit/address.ts';
import { Outbox } from '../../src/audit/outbox.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { ManualClock } from '../../src/clock.ts';
import { decodeBatch, encodeBatch } from '../../src/cluster/codec.ts';
import { counterKey, incarnationId, incarnationKeys, membershipKeys, nodeNameOf, parseDataKey } from '../../src/cluster/keys.ts';
import { captureLogger } from '../../src/log.ts';

const ip = parseAddress;
const cidr = (s: string) => parseCidr(s);
const T0 = 1_800_000_000_000; // a multiple of 1800 s

function store(clock: ManualClock, over: { cap?: number; bound?: number } = {}) {
  const s = new AuditStore({ clock, logger: captureLogger().logger, monitors: ['300,6', '1800,4'], ...(over.cap === undefined ? {} : { maxTrackedPerMonitor: over.cap }) });
  const cl = s.enableCluster(over.bound === undefined ? {} : { outboxBound: over.bound });
  return { s, cl };
}

describe('remote counters (what peers sent, in memory)', () => {
  it('a cluster read is local plus remote; a local read ignores the remote copy', () => {
    const clock = new ManualClock(T0 + 10_000);
    const { s, cl } = store(clock);
    s.record('connections', ip('10.0.0.1'));
    cl.counters.apply(0, T0 / 1000, ip('10.0.0.2'), 4, T0 / 1000 + 10);
    expect(s.count('connections', '300,6', cidr('10.0.0.0/24'), 0, 0, 'cluster')).toBe(5);
    expect(s.count('connections', '300,6', cidr('10.0.0.0/24'), 0, 0, 'local')).toBe(1);
    expect(s.windows('connections', '1800,4', cidr('10.0.0.2/32'), 'cluster')).toEqual([4, 0, 0, 0]);
  });

  it('a delta is placed by the slot it was counted in, not by when it arrived', () => {
    const clock = new ManualClock(T0 + 700_000); // 700 s in: 300-window #2, 1800-window #0
    const { s, cl } = store(clock);
    // Counted 600 s earlier (300-window two back, same 1800-window).
    cl.counters.apply(2, T0 / 1000, ip('2001:db8::5'), 3, T0 / 1000 + 700);
    expect(s.windows('rejections', '300,6', cidr('2001:db8::/64'), 'cluster')).toEqual([0, 0, 3, 0, 0, 0]);
    expect(s.windows('rejections', '1800,4', cidr('2001:db8::/64'), 'cluster')).toEqual([3, 0, 0, 0]);
  });

  it('a delta from a peer whose clock runs ahead waits for its window', () => {
    const clock = new ManualClock(T0 + 299_000);
    const { s, cl } = store(clock);
    cl.counters.apply(0, T0 / 1000 + 300, ip('10.0.0.9'), 1, T0 / 1000 + 299);
    expect(s.count('connections', '300,6', cidr('10.0.0.9/32'), 0, 5, 'cluster')).toBe(0);
    clock.set(T0 + 301_000);
    cl.counters.settle(T0 / 1000 + 301);
    expect(s.count('connections', '300,6', cidr('10.0.0.9/32'), 0, 0, 'cluster')).toBe(1);
  });

  it('the per-address cap applies to the remote copy too (fold into the /24 block)', () => {
    const clock = new ManualClock(T0);
    const { s, cl } = store(clock, { cap: 10 });
    for (let i = 0; i < 50; i++) cl.counters.apply(0, T0 / 1000, ip(`10.9.${i}.1`), 1, T0 / 1000);
    expect(cl.counters.trackedHosts).toBeLessThanOrEqual(10 * 2);
    expect(s.count('connections', '300,6', cidr('10.9.0.0/16'), 0, 0, 'cluster')).toBe(50);
  });

  it('smoothed cluster value weighs local plus remote windows 0 and 1', () => {
    const clock = new ManualClock(T0 + 450_000); // half-way through a 300 s window
    const { s, cl } = store(clock);
    cl.counters.apply(0, T0 / 1000 + 300, ip('10.0.0.1'), 2, T0 / 1000 + 450);
    cl.counters.apply(0, T0 / 1000, ip('10.0.0.1'), 10, T0 / 1000 + 450);
    s.record('connections', ip('10.0.0.1'));
    expect(s.smoothed('connections', '300,6', cidr('10.0.0.1/32'), 'cluster')).toBe(8);
    expect(s.smoothed('connections', '300,6', cidr('10.0.0.1/32'), 'local')).toBe(1);
  });

  it('inbound_cidr reads local SMTP plus every live origin, and dropping an origin takes exactly its sessions out', () => {
    const { s, cl } = store(new ManualClock(T0));
    const g = s.gauges.open('SMTP', ip('192.0.2.1'));
    cl.gauges.apply('b#1', ip('192.0.2.2'), 2);
    cl.gauges.apply('c#1', ip('192.0.2.3'), 1);
    expect(s.gauges.count('inbound_cidr', cidr('192.0.2.0/24'))).toBe(4);
    expect(s.gauges.count('SMTP', cidr('192.0.2.0/24'))).toBe(1);
    expect(cl.gauges.drop('b#1')).toBe(2);
    expect(s.gauges.count('inbound_cidr', cidr('192.0.2.0/24'))).toBe(2);
    g.close();
  });
});

describe('outbox (this node\'s pending changes)', () => {
  it('aggregates by slot, metric and address: memory follows distinct keys, not events', () => {
    const clock = new ManualClock(T0);
    const { s, cl } = store(clock);
    for (let i = 0; i < 1000; i++) s.record('connections', ip('10.0.0.1'));
    s.record('receptions', ip('::ffff:10.0.0.1'));
    s.record('connections', ip('2001:db8::1'));
    const g = s.gauges.open('SMTP', ip('10.0.0.1'));
    expect(cl.outbox.pending).toBe(4);
    const b = cl.outbox.drain();
    expect(b.counters.map(([mi, ts, a, n]) => [mi, ts, a.family, n])).toEqual([
      [0, T0 / 1000, 4, 1000],
      [0, T0 / 1000, 6, 1],
      [1, T0 / 1000, 4, 1],
    ]);
    expect(b.gauges).toHaveLength(1);
    expect(cl.outbox.pending).toBe(0);
    g.close();
  });

  it('past its bound it drops new entries, counts them and flags a resync; known entries keep counting', () => {
    const o = new Outbox(300, 3);
    for (let i = 1; i <= 5; i++) o.counter(0, ip(`10.0.0.${i}`), 0);
    o.counter(0, ip('10.0.0.1'), 0);
    expect(o.pending).toBe(3);
    expect(o.dropped).toBe(2);
    expect(o.overflowed).toBe(true);
    expect(o.drain().counters.find(([, , a]) => a.w0 === ip('10.0.0.1').w0)![3]).toBe(2);
  });

  it('series adds of replicated series go out with their window start; others stay local', () => {
    const clock = new ManualClock(T0 + 65_000);
    const { s, cl } = store(clock);
    s.series.define('r', 'string', 60, 5, { replicate: 'cluster' });
    s.series.define('m', 'cidr', 60, 5, { replicate: 'manager' });
    s.series.define('n', 'string', 60, 5);
    s.series.add('r', 'a b', 2);
    s.series.add('m', ip('10.1.1.1'));
    s.series.add('n', 'x');
    const b = cl.outbox.drain();
    expect(b.series.map((p) => [p.id.name, p.manager, [...p.windows.keys()], [...p.windows.values()].map((m) => [...m])])).toEqual([
      ['r', false, [T0 / 1000 + 60], [[['a b', 2]]]],
      ['m', true, [T0 / 1000 + 60], [[['10.1.1.1', 1]]]],
    ]);
    cl.series.apply({ name: 'r', type: 'string', interval: 60, windows: 5 }, T0 / 1000, 'a b', 5, T0 / 1000 + 65);
    expect(s.series.count('r', 'a b', 0, 4)).toBe(7);
    expect(s.series.count('r', 'a b', 1, 1)).toBe(5);
  });
});

describe('wire format and key schema', () => {
  it('a batch encodes to lines and decodes to the same changes', () => {
    const o = new Outbox(300);
    o.counter(2, ip('2001:db8::7'), 600);
    o.gauge(ip('10.0.0.1'), -1);
    o.series({ name: 'we ird|name', type: 'string', interval: 60, windows: 5 }, false, 540, 'key with space', 3);
    const text = encodeBatch(o.drain());
    const got: unknown[] = [];
    const bad = decodeBatch(`${text}\nnonsense line\nc 9 1 1.2.3.4 1`, {
      counter: (mi, ts, a, n) => got.push(['c', mi, ts, a.family, n]),
      gauge: (a, n) => got.push(['g', a.w0, n]),
      series: (id, m, start, key, n) => got.push(['s', id.name, id.interval, m, start, key, n]),
    });
    expect(bad).toBe(2);
    expect(got).toEqual([
      ['c', 2, 600, 6, 1],
      ['g', ip('10.0.0.1').w0, -1],
      ['s', 'we ird|name', 60, false, 540, 'key with space', 3],
    ]);
  });

  it('every key of an incarnation shares its hash tag; membership keys share another', () => {
    const inc = incarnationId('mx-1', 1733000000000);
    expect(nodeNameOf(inc)).toBe('mx-1');
    const k = incarnationKeys('mw', inc);
    const tagOf = (key: string) => /\{([^}]*)\}/.exec(key)![1];
    for (const key of [k.seq, k.stream, k.gauges, k.keys, counterKey(k.tag, 0, 300, 1800)]) expect(tagOf(key)).toBe(`mw:${inc}`);
    const m = membershipKeys('mw');
    expect(tagOf(m.members)).toBe(tagOf(m.nodes));
    expect(parseDataKey(counterKey(k.tag, 1, 300, 1800).slice(k.tag.length))).toEqual({ kind: 'c', metric: 1, width: 300, start: 1800 });
  });
});
