/**
 * Golden values: every inbound_audit command of spec §9, in both argument
 * forms, on one recorded history. The peer is 203.0.113.7; the clock is 30 s
 * into the current minute (f = 0.5 for "60,10", 0.1 for "300,6").
 */
import { describe, expect, it } from 'vitest';
import { parseAddress } from '../../src/audit/address.ts';
import type { AuditStore } from '../../src/audit/store.ts';
import type { ManualClock } from '../../src/clock.ts';
import { T0 } from '../helpers/engine.ts';
import { replyOf } from './direct.ts';

const PEER = '203.0.113.7';

function history(store: AuditStore, clock: ManualClock): void {
  const rec = (m: 'connections' | 'receptions' | 'rejections', ip: string, n: number) => {
    for (let i = 0; i < n; i++) store.record(m, parseAddress(ip));
  };
  // T0 − 60 s: the previous minute (window 1 of "60,10", window 1 of "300,6").
  rec('connections', PEER, 40);
  rec('receptions', PEER, 20);
  rec('rejections', PEER, 10);
  rec('connections', '203.0.113.99', 100);
  clock.advance(90_000); // T0 + 30 s
  rec('connections', PEER, 4);
  rec('receptions', PEER, 2);
  rec('rejections', PEER, 1);
  rec('connections', '203.0.113.99', 6);
  store.gauges.open('SMTP', parseAddress(PEER));
  store.gauges.open('SMTP', parseAddress('203.0.113.99'));
  store.gauges.open('Control', parseAddress(PEER));
  store.series.define('lua_s', 'cidr', 60, 5);
  store.series.add('lua_s', parseAddress(PEER), 3);
}

const value = (expr: string): string | undefined =>
  replyOf(`${expr}\nec_action 550 "\${v}";`, { peer: PEER, start: T0 - 60_000, setup: history });

const HASH = (pairs: Record<string, string>) =>
  `$h = hash_create;\n${Object.entries(pairs)
    .map(([k, v]) => `hash_set $h "${k}" "${v}";`)
    .join('\n')}\n`;

describe('golden values of every command, both forms', () => {
  it.each([
    // positional: smoothed value of monitor N
    ['$v = ec_ip_connections "0";', '24'], // 4 + 0.5·40
    ['$v = ec_ip_receptions "0";', '12'], // 2 + 0.5·20
    ['$v = ec_ip_rejections "0";', '6'], // 1 + 0.5·10
    ['$v = ec_ip_connections "0" "24";', '80'], // /24: 10 + 0.5·140
    ['$v = ec_ip_connections "1";', '40'], // "300,6": 4 + 0.9·40
    ['$v = ec_ip_connections_cluster "0";', '24'],
    ['$v = ec_ip_receptions_cluster "0";', '12'],
    ['$v = ec_ip_rejections_cluster "0" "/32";', '6'],
    // hash: plain sums
    [`${HASH({})}$v = ec_ip_connections $h;`, '4'],
    [`${HASH({ period_end: '1' })}$v = ec_ip_receptions $h;`, '22'],
    [`${HASH({ period_start: '1' })}$v = ec_ip_rejections $h;`, '10'],
    [`${HASH({ monitor: '300,6', mask: '24' })}$v = ec_ip_connections $h;`, '10'],
    [`${HASH({ period_end: '1', ignored_key: 'x' })}$v = ec_ip_connections_cluster $h;`, '44'],
    [`${HASH({ period_end: '1' })}$v = ec_ip_receptions_cluster $h;`, '22'],
    [`${HASH({ period_end: '1', mask: '/24' })}$v = ec_ip_rejections_cluster $h;`, '11'],
    // gauges: one-element lists
    ['($v) = audit_service "SMTP" "/24";', '2'],
    ['($v) = audit_service "Control" "203.0.113.7";', '1'],
    ['($v) = audit_service "inbound_cidr" "203.0.113.0/24";', '2'],
    ['($v) = audit_connections_on_service "/32";', '1'],
    ['($v) = audit_connections_on_listener "24";', '2'],
    // series: positional and hash, Lua-defined
    ['$v = audit_series "lua_s" "60,5";', '3'],
    ['$v = audit_series "lua_s" "60,5" "24" "0" "4";', '3'],
    [`${HASH({ series: 'lua_s', monitor: '60,5', ip: '203.0.113.200', mask: '24' })}$v = audit_series $h;`, '3'],
    [`${HASH({ series: 'lua_s', monitor: '60,5', ip: '203.0.113.200' })}$v = audit_series $h;`, '0'],
    [`audit_series_add "lua_s" "60,5" "2";\n$v = audit_series "lua_s" "60,5";`, '5'],
    [`${HASH({ series: 'lua_s', monitor: '60,5', count: '-10' })}audit_series_add $h;\n$v = audit_series "lua_s" "60,5";`, '0'],
  ])('%s → %s', (expr, want) => {
    expect(value(expr)).toBe(want);
  });
});
