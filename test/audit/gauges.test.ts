import { describe, expect, it } from 'vitest';
import { parseAddress, parseCidr } from '../../src/audit/address.ts';
import { SERVICES } from '../../src/audit/gauges.ts';
import { errorCode, makeStore, warnings } from './helpers.ts';

const A = parseAddress('198.51.100.5');
const B = parseAddress('198.51.100.77');
const C6 = parseAddress('2001:db8::5');

describe('SessionGauges', () => {
  it('lists the services of spec §6.1', () => {
    expect(SERVICES).toEqual(['SMTP', 'ECStream', 'Control', 'ECmmove2', 'ECCluster', 'inbound_cidr']);
  });

  it('counts open sessions per block and service, the querying session included', () => {
    const { store } = makeStore();
    const g = store.gauges;
    const h1 = g.open('SMTP', A);
    g.open('SMTP', A);
    g.open('SMTP', B);
    g.open('Control', B);
    g.open('SMTP', C6);
    expect(g.count('SMTP', parseCidr('/32', A))).toBe(2);
    expect(g.count('SMTP', parseCidr('/24', A))).toBe(3);
    expect(g.count('SMTP', parseCidr('/0', A))).toBe(3);
    expect(g.count('SMTP', parseCidr('/0', C6))).toBe(1);
    expect(g.count('Control', parseCidr('/24', A))).toBe(1);
    expect(g.count('ECStream', parseCidr('/0', A))).toBe(0);
    h1.close();
    expect(g.count('SMTP', parseCidr('/32', A))).toBe(1);
    expect(g.openSessions).toBe(4);
  });

  it('closes idempotently', () => {
    const { store } = makeStore();
    const h = store.gauges.open('SMTP', A);
    store.gauges.open('SMTP', A);
    h.close();
    h.close();
    expect(store.gauges.count('SMTP', parseCidr('/32', A))).toBe(1);
    expect(store.gauges.openSessions).toBe(1);
  });

  it('scopes counts to a listener when one is given', () => {
    const { store } = makeStore();
    const g = store.gauges;
    const h = g.open('SMTP', A, '127.0.0.1:25');
    g.open('SMTP', A, '127.0.0.1:587');
    g.open('SMTP', B, '127.0.0.1:587');
    expect(g.count('SMTP', parseCidr('/32', A), '127.0.0.1:25')).toBe(1);
    expect(g.count('SMTP', parseCidr('/24', A), '127.0.0.1:587')).toBe(2);
    expect(g.count('SMTP', parseCidr('/24', A))).toBe(3);
    expect(g.count('SMTP', parseCidr('/24', A), '10.0.0.1:25')).toBe(0);
    h.close();
    expect(g.count('SMTP', parseCidr('/32', A), '127.0.0.1:25')).toBe(0);
    expect(g.count('SMTP', parseCidr('/32', A), '127.0.0.1:587')).toBe(1);
  });

  it('treats IPv4-mapped sessions as IPv4', () => {
    const { store } = makeStore();
    store.gauges.open('SMTP', parseAddress('::ffff:198.51.100.5'));
    expect(store.gauges.count('SMTP', parseCidr('198.51.100.5'))).toBe(1);
  });

  it('reads 0 for an unknown service and warns once per name', () => {
    const { store, records } = makeStore();
    store.gauges.open('SMTP', A);
    expect(store.gauges.count('smtp', parseCidr('/32', A))).toBe(0);
    expect(store.gauges.count('smtp', parseCidr('/32', A))).toBe(0);
    expect(store.gauges.count('HTTP', parseCidr('/32', A))).toBe(0);
    const w = records.filter((r) => r.msg.includes('unknown service'));
    expect(w.map((r) => r['service'])).toEqual(['smtp', 'HTTP']);
  });

  it('stops adding warned names past a bound, so a script cannot grow the set', () => {
    const { store, records } = makeStore();
    for (let i = 0; i < 500; i++) store.gauges.count(`svc${i}`, parseCidr('/32', A));
    expect(warnings(records).length).toBeLessThanOrEqual(64);
  });

  it('answers inbound_cidr with the local SMTP figure on a single node, warning once', () => {
    const { store, records } = makeStore();
    store.gauges.open('SMTP', A);
    store.gauges.open('SMTP', B);
    expect(store.gauges.count('inbound_cidr', parseCidr('/24', A))).toBe(2);
    expect(store.gauges.count('inbound_cidr', parseCidr('/32', A))).toBe(1);
    expect(warnings(records).filter((m) => m.includes('inbound_cidr'))).toHaveLength(1);
  });

  it('keeps an idle listener\'s gauge at zero, and forgets idle listeners once many have come and gone', () => {
    const { store } = makeStore();
    const g = store.gauges;
    g.open('SMTP', A, 'mx:25').close();
    expect(g.count('SMTP', parseCidr('/32', A), 'mx:25')).toBe(0);
    const held = g.open('SMTP', B, 'mx:25');
    expect(g.count('SMTP', parseCidr('/24', A), 'mx:25')).toBe(1);
    for (let i = 0; i < 500; i++) g.open('SMTP', A, `test-listener-${i}`).close();
    expect(g.listenerGauges).toBeLessThanOrEqual(65);
    // The busy listener survived every clean-up.
    expect(g.count('SMTP', parseCidr('/32', B), 'mx:25')).toBe(1);
    held.close();
    expect(g.count('SMTP', parseCidr('/32', B), 'mx:25')).toBe(0);
    expect(g.openSessions).toBe(0);
  });

  it('counts each session in its own listener\'s gauge when listeners alternate or one was forgotten and comes back', () => {
    const { store } = makeStore();
    const g = store.gauges;
    const x1 = g.open('SMTP', A, 'mx:25');
    const y = g.open('SMTP', A, 'mx:587');
    const x2 = g.open('SMTP', B, 'mx:25');
    expect(g.count('SMTP', parseCidr('/24', A), 'mx:25')).toBe(2);
    expect(g.count('SMTP', parseCidr('/24', A), 'mx:587')).toBe(1);
    expect(g.count('SMTP', parseCidr('/24', A), 'mx:2525')).toBe(0);
    for (const h of [x1, y, x2]) h.close();
    // mx:25 goes idle, is forgotten among many others, and then takes sessions again.
    for (let i = 0; i < 200; i++) g.open('SMTP', A, `test-listener-${i}`).close();
    const again = g.open('SMTP', A, 'mx:25');
    expect(g.count('SMTP', parseCidr('/32', A), 'mx:25')).toBe(1);
    again.close();
    expect(g.count('SMTP', parseCidr('/32', A), 'mx:25')).toBe(0);
    expect(g.openSessions).toBe(0);
  });

  it('refuses to open unknown or view-only services and bad listeners', () => {
    const { store } = makeStore();
    expect(errorCode(() => store.gauges.open('smtp', A))).toBe('MW_ERR_UNKNOWN_SERVICE');
    expect(errorCode(() => store.gauges.open('inbound_cidr', A))).toBe('MW_ERR_UNKNOWN_SERVICE');
    expect(errorCode(() => store.gauges.open('SMTP', A, ''))).toBe('MW_ERR_UNKNOWN_SERVICE');
    expect(errorCode(() => store.gauges.open('SMTP', 'x' as never))).toBe('MW_ERR_BAD_ADDRESS');
    expect(store.gauges.openSessions).toBe(0);
  });

  it('returns to empty after every session closes', () => {
    const { store } = makeStore();
    const handles = [A, B, C6, A].map((a, i) => store.gauges.open('SMTP', a, i % 2 === 0 ? 'l1' : undefined));
    for (const h of handles) h.close();
    for (const a of [A, B, C6]) {
      expect(store.gauges.count('SMTP', parseCidr('/0', a))).toBe(0);
      expect(store.gauges.count('SMTP', parseCidr('/0', a), 'l1')).toBe(0);
    }
    expect(store.gauges.openSessions).toBe(0);
  });
});
