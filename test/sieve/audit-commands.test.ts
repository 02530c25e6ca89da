import { describe, expect, it } from 'vitest';
import { parseAddress, parseCidr } from '../../src/audit/address.ts';
import { logs, T0 } from '../helpers/engine.ts';
import { connect, evalText, sieveEngine } from './helpers.ts';

const IP = '203.0.113.7';
const record = (t: { store: { record: (m: 'connections' | 'receptions' | 'rejections', a: ReturnType<typeof parseAddress>) => void } }, metric: 'connections' | 'receptions' | 'rejections', ip: string, n: number) => {
  for (let i = 0; i < n; i++) t.store.record(metric, parseAddress(ip));
};

describe('ec_ip_* positional form (spec 9.2, 4.4)', () => {
  it('returns the smoothed value of the monitor at the index, /32 by default, as a string', async () => {
    // T0 is a window boundary; 30 s on, f = 0.5 for "60,10".
    const t = await sieveEngine({ connect: ['$n = ec_ip_connections "0"; $m = ec_ip_connections "1"; ec_action 550 "${n} ${m}";'] }, { start: T0 - 60_000 });
    record(t, 'connections', IP, 40);
    t.clock.advance(90_000);
    record(t, 'connections', IP, 9);
    const v = await connect(t, IP);
    // "60,10": C0 = 9 + this connection, C1 = 40, f = 0.5 → 30. "300,6": f = 0.1 → 10 + 0.9·40 = 46.
    expect(v.text).toBe('30 46');
    expect(v.code).toBe(550);
  });

  it.each([
    ['connections', 'ec_ip_connections', 3 + 1],
    ['receptions', 'ec_ip_receptions', 3],
    ['rejections', 'ec_ip_rejections', 3],
  ] as const)('%s: reads its own metric', async (metric, cmd, want) => {
    const text = await evalText(`$n = ${cmd} "1"; ec_action 550 "\${n}";`, IP, (t) => record(t, metric, IP, 3));
    expect(text).toBe(String(want));
  });

  it('takes the mask as "24", "/24" or omitted (host length)', async () => {
    const text = await evalText('$a = ec_ip_connections "1" "24"; $b = ec_ip_connections "1" "/24"; $c = ec_ip_connections "1"; $d = ec_ip_connections "1" "32"; ec_action 550 "${a} ${b} ${c} ${d}";', IP, (t) => {
      record(t, 'connections', '203.0.113.8', 5);
    });
    expect(text).toBe('6 6 1 1');
  });

  it('uses the IPv6 host length when the mask is omitted and honours "32" literally', async () => {
    const text = await evalText('$a = ec_ip_connections "1"; $b = ec_ip_connections "1" "32"; ec_action 550 "${a} ${b}";', '2001:db8::1', (t) => {
      record(t, 'connections', '2001:db8:ffff::2', 4);
    });
    expect(text).toBe('1 5');
  });

  it('an index past the configured monitors is a runtime error (failure mode)', async () => {
    const t = await sieveEngine({ connect: ['$n = ec_ip_connections "3"; ec_action 550 "${n}";'] });
    const v = await connect(t, IP);
    expect(v).toMatchObject({ action: 'tempfail', code: 451, fault: true });
    expect(logs(t.records, /p0\.siv:1:6: ec_ip_connections: monitor index "3" is out of range/)).toHaveLength(1);
  });
});

describe('ec_ip_* hash form (spec 9.2)', () => {
  it('defaults: first monitor, window 0 only, /32, a plain sum', async () => {
    const text = await evalText(
      '$h = hash_create; $n = ec_ip_connections $h; ec_action 550 "${n}";',
      IP,
      (t) => {
        record(t, 'connections', IP, 40);
        t.clock.advance(90_000);
      },
      { start: T0 - 60_000 },
    );
    expect(text).toBe('1');
  });

  it('period_start/period_end/mask/monitor as strings or numbers; end defaults to start', async () => {
    const src = `$h = hash_create; hash_set $h "monitor" "60,10"; hash_set $h "period_start" 1; $one = ec_ip_rejections $h;
hash_set $h "period_start" "0"; hash_set $h "period_end" "2"; hash_set $h "mask" "/24"; $range = ec_ip_rejections $h;
hash_set $h "period_end" 9999; hash_set $h "mask" 24; $clamped = ec_ip_rejections $h;
ec_action 550 "\${one} \${range} \${clamped}";`;
    const text = await evalText(
      src,
      IP,
      (t) => {
        record(t, 'rejections', '203.0.113.99', 7); // window 3: outside 0..2
        t.clock.advance(60_000);
        record(t, 'rejections', IP, 4); // window 2
        t.clock.advance(60_000);
        record(t, 'rejections', IP, 2); // window 1
        t.clock.advance(60_000);
        record(t, 'rejections', IP, 1); // window 0
      },
      { start: T0 - 180_000 },
    );
    // window 1 at /32; windows 0..2 at /24; 0..9 (clamped) at /24.
    expect(text).toBe('2 7 14');
  });

  it('an unconfigured monitor string is a runtime error', async () => {
    const t = await sieveEngine({ connect: ['$h = hash_create; hash_set $h "monitor" "7,7"; $n = ec_ip_connections $h;'] });
    const v = await connect(t, IP);
    expect(v.fault).toBe(true);
    expect(logs(t.records, /monitor "7,7" is not configured/)).toHaveLength(1);
  });
});

describe('_cluster forms (spec 9.3)', () => {
  it('answer with local figures on a single node and warn once through the shared warning', async () => {
    const t = await sieveEngine({
      connect: ['$a = ec_ip_connections_cluster "0"; $h = hash_create; $b = ec_ip_receptions_cluster $h; $c = ec_ip_rejections_cluster "0" "24"; ec_action 550 "${a} ${b} ${c}";'],
    });
    expect((await connect(t, IP)).text).toBe('1 0 0');
    // The first session's 550 was a rejection.
    expect((await connect(t, IP)).text).toBe('2 0 1');
    expect(logs(t.records, 'Sieve ec_ip_connections_cluster on a single node; answering with local figures')).toHaveLength(1);
  });

  it('share the once-only warning with Lua msys.audit cluster = true', async () => {
    const lua = {
      'l.lua': `require("msys.core"); require("msys.audit")
local m = {}
function m:validate_connect(ac, vctx) msys.audit.connections("60,10", { cluster = true }); return msys.core.VALIDATE_CONT end
msys.registerModule("l", m)`,
    };
    const t = await sieveEngine({ connect: ['$a = ec_ip_connections_cluster "0";'] }, { lua });
    await connect(t, IP);
    await connect(t, IP);
    expect(logs(t.records, /on a single node; answering with local figures/)).toHaveLength(1);
  });
});

describe('gauge commands (spec 6.2, 9.4)', () => {
  it('audit_service returns a one-element list; "/24", "24", "addr/m", omitted', async () => {
    const t = await sieveEngine({
      connect: [
        `($a) = audit_service "SMTP" "/32"; ($b) = audit_service "SMTP" "/24"; ($c) = audit_service "SMTP" "24";
($d) = audit_service "SMTP" "203.0.113.0/24"; ($e) = audit_service "SMTP"; $list = audit_service "SMTP" "/32"; ($f, $g) = audit_service "SMTP";
ec_action 550 "\${a} \${b} \${c} \${d} \${e} [\${list}] \${f}[\${g}]";`,
      ],
    });
    const held = [t.store.gauges.open('SMTP', parseAddress(IP)), t.store.gauges.open('SMTP', parseAddress('203.0.113.9'))];
    expect((await connect(t, IP)).text).toBe('2 3 3 3 2 [2] 2[]');
    held.forEach((h) => h.close());
  });

  it('audit_service names the service; unknown names read 0; inbound_cidr reads local SMTP', async () => {
    const text = await evalText('($a) = audit_service "Control" "/32"; ($b) = audit_service "smtp"; ($c) = audit_service "inbound_cidr" "/32"; ec_action 550 "${a} ${b} ${c}";', IP, (t) => {
      t.store.gauges.open('Control', parseAddress(IP));
    });
    expect(text).toBe('1 0 1');
  });

  it('audit_connections_on_service counts SMTP; audit_connections_on_listener only this listener', async () => {
    const t = await sieveEngine({
      connect: ['($s) = audit_connections_on_service "/32"; ($l) = audit_connections_on_listener "/32"; ($n) = audit_connections_on_listener; ec_action 550 "${s} ${l} ${n}";'],
    });
    const other = t.store.gauges.open('SMTP', parseAddress(IP), '127.0.0.1:587');
    const v = await connect(t, IP, '127.0.0.1:25');
    expect(v.text).toBe('2 1 1');
    other.close();
  });
});

describe('series commands (spec 8.6, 8.7)', () => {
  it('audit_series_add creates the series on first use; audit_series reads it, positional and hash', async () => {
    const t = await sieveEngine({
      connect: [
        `audit_series_add "hits" "60,5"; audit_series_add "hits" "60,5" "4";
$a = audit_series "hits" "60,5"; $b = audit_series "hits" "60,5" "24" "0" "4"; $none = audit_series "nothing" "60,5";
$h = hash_create; hash_set $h "series" "hits"; hash_set $h "monitor" "60,5"; hash_set $h "ip" "198.51.100.1"; hash_set $h "count" 3;
audit_series_add $h;
$q = hash_create; hash_set $q "series" "hits"; hash_set $q "monitor" "60,5"; hash_set $q "ip" "198.51.100.1"; hash_set $q "mask" "24";
$c = audit_series $q;
ec_action 550 "\${a} \${b} \${none} \${c}";`,
      ],
    });
    expect((await connect(t, IP)).text).toBe('5 5 0 3');
    expect(t.store.series.info('hits')).toMatchObject({ type: 'cidr', interval: 60, windows: 5 });
    expect(t.store.series.has('nothing')).toBe(false);
  });

  it('positional windows: none → window 0, start only → that window, both → the range', async () => {
    const t = await sieveEngine({
      connect: ['$w0 = audit_series "s" "60,5"; $w2 = audit_series "s" "60,5" "32" "2"; $r = audit_series "s" "60,5" "32" "0" "2"; ec_action 550 "${w0} ${w2} ${r}";'],
    }, { start: T0 - 120_000 });
    t.store.series.define('s', 'cidr', 60, 5);
    t.store.series.add('s', parseAddress(IP), 7);
    t.clock.advance(120_000);
    t.store.series.add('s', parseAddress(IP), 1);
    expect((await connect(t, IP)).text).toBe('1 7 8');
  });

  it('a Lua-defined series is the same series in Sieve under the same name and monitor; another monitor is distinct', async () => {
    const lua = {
      'l.lua': `require("msys.core"); require("msys.audit_series")
local m = {}
function m:init() msys.audit_series.define("rcpt_valid", "cidr", 300, 12); return true end
function m:validate_connect(ac, vctx) msys.audit_series.add("rcpt_valid", { count = 10 }); return msys.core.VALIDATE_CONT end
msys.registerModule("l", m)`,
    };
    const t = await sieveEngine(
      { connect: ['audit_series_add "rcpt_valid" "300,12"; audit_series_add "rcpt_valid" "60,10" "5"; $same = audit_series "rcpt_valid" "300,12"; $other = audit_series "rcpt_valid" "60,10"; ec_action 550 "${same} ${other}";'] },
      { lua },
    );
    expect((await connect(t, IP)).text).toBe('11 5');
    expect(t.store.series.count('rcpt_valid', parseCidr(IP), 0, 0)).toBe(11);
    expect(t.store.series.info('rcpt_valid')).toMatchObject({ interval: 300, windows: 12 });
    expect(t.store.series.info('rcpt_valid@60,10')).toMatchObject({ interval: 60, windows: 10 });
  });

  it('negative sums read "0" (i;ascii-numeric has no minus)', async () => {
    const text = await evalText('audit_series_add "neg" "60,5" "-5"; $n = audit_series "neg" "60,5"; ec_action 550 "${n}";');
    expect(text).toBe('0');
  });

  it('replicate 1 / -1 map to cluster / manager; serialize is accepted', async () => {
    const t = await sieveEngine({
      connect: ['$h = hash_create; hash_set $h "series" "r"; hash_set $h "monitor" "60,5"; hash_set $h "replicate" "1"; hash_set $h "serialize" "1"; audit_series_add $h; hash_set $h "series" "m"; hash_set $h "replicate" "-1"; audit_series_add $h;'],
    });
    await connect(t, IP);
    expect(t.store.series.info('r').options.replicate).toBe('cluster');
    expect(t.store.series.info('m').options.replicate).toBe('manager');
  });

  it('IPv6 peers get an IPv6 series beside an IPv4 one of the same name', async () => {
    const t = await sieveEngine({ connect: ['audit_series_add "dual" "60,5"; $n = audit_series "dual" "60,5"; ec_action 550 "${n}";'] });
    expect((await connect(t, IP)).text).toBe('1');
    expect((await connect(t, '2001:db8::5')).text).toBe('1');
    expect(t.store.series.info('dual').type).toBe('cidr');
    expect(t.store.series.info('dual@60,5-v6').type).toBe('cidr_ipv6');
  });
});

describe('hashes (spec 9.8)', () => {
  it('hash_get and $h["k"] read values; a missing key reads ""', async () => {
    const text = await evalText('$h = hash_create; hash_set $h "k" "v"; hash_set $h "n" 5; $a = hash_get $h "k"; ec_action 550 "${a} ${h} [${missing}]";'.replace('${h}', '') + '');
    expect(text).toBe('v  []');
    const t2 = await evalText('$h = hash_create; hash_set $h "k" "v"; $x = $h["k"]; $y = $h["nope"]; ec_action 550 "${x}|${y}";');
    expect(t2).toBe('v|');
  });

  it('hash_set on something that is not a hash is a runtime error', async () => {
    const t = await sieveEngine({ connect: ['$h = "text"; hash_set $h "k" "v";'] });
    expect((await connect(t, IP)).fault).toBe(true);
    expect(logs(t.records, /hash_set: the first argument is not a hash/)).toHaveLength(1);
  });
});
