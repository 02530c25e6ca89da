import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { writeSeriesFile } from '../../src/persist/series-file.ts';
import { serve, smtpTouch, type ServedInstance } from './lib/serve-harness.ts';

const LUA = `
require("msys.audit_series")
local p = {}
function p:init()
  msys.audit_series.define("bad", "cidr", 60, 5, { persist = true })
  msys.audit_series.define("bad6", "cidr_ipv6", 60, 5)
  msys.audit_series.define("senders", "string", 60, 5)
  msys.audit_series.define(".dot", "string", 60, 5)
  return true
end
msys.registerModule("policy", p)
`;

let dir: string;
let srv: ServedInstance;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mw-console-'));
  // Counts are checked window by window: the server's clock is pinned 10 s into a
  // minute, so no window rolls over while the tests run, however slow the machine.
  srv = await serve(dir, { lua: LUA, clock });
  mkdirSync(join(dir, 'state'), { recursive: true });
  await smtpTouch(srv.smtpPort);
  await smtpTouch(srv.smtpPort);
}, 20_000);

afterAll(async () => {
  expect(await srv.stop()).toBe(0);
  rmSync(dir, { recursive: true, force: true });
});

const clock = new ManualClock(Date.UTC(2026, 10, 22, 6, 4, 10));
const nowWindowStart = (width: number): number => Math.floor(clock.now() / 1000 / width) * width;

describe('console over the control socket of a running server', () => {
  it('creates the Unix socket with mode 0600', () => {
    expect(statSync(srv.socket).mode & 0o777).toBe(0o600);
  });

  it('help lists Momentum commands and the extra ones', async () => {
    const out = await srv.run('help');
    expect(out.some((l) => l.startsWith('inbound_audit show ip <ip[/mask]>'))).toBe(true);
    for (const cmd of ['count_cidr', 'add', 'subtract', 'delete_ip', 'load', 'reload', 'status', 'series list']) {
      expect(out.some((l) => l.includes(cmd))).toBe(true);
    }
    expect(await srv.run('inbound_audit help')).toContain(out[0]);
  });

  it('show ip prints every metric, monitor and window in the spec line format', async () => {
    const out = await srv.run('inbound_audit show ip 127.0.0.1');
    expect(out).toEqual([
      'Connections 60/0: 2',
      'Connections 60/1: 0',
      'Connections 60/2: 0',
      'Connections 300/0: 2',
      'Connections 300/1: 0',
      'Receptions 60/0: 0',
      'Receptions 60/1: 0',
      'Receptions 60/2: 0',
      'Receptions 300/0: 0',
      'Receptions 300/1: 0',
      'Rejections 60/0: 0',
      'Rejections 60/1: 0',
      'Rejections 60/2: 0',
      'Rejections 300/0: 0',
      'Rejections 300/1: 0',
    ]);
    expect((await srv.run('inbound_audit:main show ip 127.0.0.0/8'))[0]).toBe('Connections 60/0: 2');
  });

  it('show all prints CSV of non-zero counts, paged', async () => {
    const all = await srv.run('inbound_audit show all');
    expect(all).toEqual(['type,monitor,window,cidr,count', 'Connections,"60,3",0,127.0.0.1/32,2', 'Connections,"300,2",0,127.0.0.1/32,2']);
    const page = await srv.run('inbound_audit show all 0 1');
    expect(page).toEqual(['type,monitor,window,cidr,count', 'Connections,"60,3",0,127.0.0.1/32,2', '# more rows: inbound_audit show all 1 1']);
    expect(await srv.run('inbound_audit show all 1 1')).toEqual(['type,monitor,window,cidr,count', 'Connections,"300,2",0,127.0.0.1/32,2']);
  });

  it('add and subtract take the IP third and answer with the new window-0 value', async () => {
    expect(await srv.run('inbound_audit add bad 60,5 192.0.2.1 5')).toEqual(['OK bad 192.0.2.1 5']);
    expect(await srv.run('inbound_audit subtract bad 60,5 192.0.2.1 2')).toEqual(['OK bad 192.0.2.1 3']);
    expect(await srv.run('inbound_audit add bad6 60,5 2001:db8::1 4')).toEqual(['OK bad6 2001:db8::1 4']);
    expect(await srv.run('inbound_audit add senders 60,5 "mail from x" 2')).toEqual(['OK senders mail from x 2']);
  });

  it('subtract never takes a count below zero, and leaves an address the series does not hold alone', async () => {
    expect(await srv.run('inbound_audit add bad 60,5 198.51.100.9 2')).toEqual(['OK bad 198.51.100.9 2']);
    expect(await srv.run('inbound_audit subtract bad 60,5 198.51.100.9 5')).toEqual([
      'OK bad 198.51.100.9 0 (subtracted 2 of 5: a count does not go below zero)',
    ]);
    expect(await srv.run('inbound_audit count_cidr 198.51.100.9 bad 60,5 0 4')).toEqual(['0']);
    expect(await srv.run('inbound_audit subtract bad 60,5 198.51.100.10 1')).toEqual(['198.51.100.10 not found in bad: nothing subtracted']);
    expect(await srv.run('inbound_audit count_cidr 198.51.100.10 bad 60,5 0 4')).toEqual(['0']);
    expect(await srv.run('inbound_audit add bad 60,5 198.51.100.10 1')).toEqual(['OK bad 198.51.100.10 1']);
    expect(await srv.run('inbound_audit subtract senders 60,5 "never seen" 1')).toEqual(['never seen not found in senders: nothing subtracted']);
    expect(await srv.run('inbound_audit add senders 60,5 "seen once" 1')).toEqual(['OK senders seen once 1']);
    expect(await srv.run('inbound_audit subtract senders 60,5 "seen once" 3')).toEqual(['OK senders seen once 0 (subtracted 1 of 3: a count does not go below zero)']);
    expect(await srv.run('inbound_audit subtract bad 60,5 198.51.100.10 1')).toEqual(['OK bad 198.51.100.10 0']);
  });

  it('count_cidr takes the block first and sums a window range', async () => {
    await srv.run('inbound_audit add bad 60,5 192.0.2.200 1');
    expect(await srv.run('inbound_audit count_cidr 192.0.2.0/24 bad 60,5 0 4')).toEqual(['4']);
    expect(await srv.run('inbound_audit count_cidr 192.0.2.1 bad 60,5 0 0')).toEqual(['3']);
    expect(await srv.run('inbound_audit count_cidr 198.51.100.0/24 bad 60,5 1 4')).toEqual(['0']);
  });

  it('a bad command answers one Error line and changes nothing', async () => {
    const before = await srv.run('inbound_audit count_cidr 192.0.2.0/24 bad 60,5 0 4');
    const bad = [
      'inbound_audit add bad 60,6 192.0.2.1 5', // wrong parameters
      'inbound_audit add nosuch 60,5 192.0.2.1 5',
      'inbound_audit add bad 60,5 2001:db8::1 5', // wrong family
      'inbound_audit add bad 60,5 192.0.2.1 five',
      'inbound_audit add bad 60,5 192.0.2.0/24 1',
      'inbound_audit add bad 60,5 192.0.2.1',
      'inbound_audit subtract bad 60,5 192.0.2.1 -3',
      'inbound_audit count_cidr 192.0.2.1/33 bad 60,5 0 4',
      'inbound_audit delete_ip 192.0.2.1 bad 300,5',
      'inbound_audit show ip not-an-ip',
      'inbound_audit frobnicate',
      'frobnicate',
      'series remove bad',
      'inbound_audit add bad 60,5 "192.0.2.1 5',
    ];
    for (const line of bad) {
      const out = await srv.run(line);
      expect(out.length, line).toBe(1);
      expect(out[0], line).toMatch(/^Error: /);
    }
    expect(await srv.run('inbound_audit count_cidr 192.0.2.0/24 bad 60,5 0 4')).toEqual(before);
  });

  it('delete_ip removes an address from a series, or says it was not there', async () => {
    expect(await srv.run('inbound_audit delete_ip 192.0.2.200 bad 60,5')).toEqual(['OK']);
    expect(await srv.run('inbound_audit delete_ip 192.0.2.200 bad 60,5')).toEqual(['192.0.2.200 not found in bad']);
    expect(await srv.run('inbound_audit count_cidr 192.0.2.0/24 bad 60,5 0 4')).toEqual(['3']);
  });

  it('load replaces a series with a file from serialize_dir', async () => {
    const start = nowWindowStart(60);
    writeSeriesFile(join(dir, 'state', 'import.series'), {
      name: 'other-name',
      type: 'cidr',
      interval: 60,
      windows: 5,
      buckets: [
        { start, counts: [['203.0.113.5', 7]] },
        { start: start - 120, counts: [['203.0.113.6', 2]] },
        { start: start - 3600, counts: [['203.0.113.7', 9]] }, // older than the span: dropped
      ],
    });
    expect(await srv.run('inbound_audit load bad import.series')).toEqual(['Loaded 2 entries into bad']);
    expect(await srv.run('inbound_audit count_cidr 203.0.113.0/24 bad 60,5 0 4')).toEqual(['9']);
    // Window 2 when loaded; 3 if a minute turned since.
    expect(await srv.run('inbound_audit count_cidr 203.0.113.6 bad 60,5 2 3')).toEqual(['2']);
    expect(await srv.run('inbound_audit count_cidr 203.0.113.6 bad 60,5 0 1')).toEqual(['0']);
    // Replaced, not merged: what was there before is gone.
    expect(await srv.run('inbound_audit count_cidr 192.0.2.0/24 bad 60,5 0 4')).toEqual(['0']);
  });

  it('load refuses names that leave serialize_dir, and files of another shape', async () => {
    writeFileSync(join(dir, 'outside.series'), 'x');
    symlinkSync(join(dir, 'outside.series'), join(dir, 'state', 'link.series'));
    writeSeriesFile(join(dir, 'state', 'wide.series'), { name: 'bad', type: 'cidr', interval: 300, windows: 5, buckets: [] });
    writeFileSync(join(dir, 'state', 'junk.series'), 'not a state file\n');
    for (const [line, pattern] of [
      [`inbound_audit load bad ${join(dir, 'outside.series')}`, /absolute/],
      ['inbound_audit load bad ../outside.series', /\.\./],
      ['inbound_audit load bad link.series', /outside serialize_dir/],
      ['inbound_audit load bad missing.series', /no file/],
      ['inbound_audit load bad wide.series', /300,5/],
      ['inbound_audit load bad junk.series', /^Error: /],
      ['inbound_audit load nosuch import.series', /unknown series/],
    ] as const) {
      const out = await srv.run(line);
      expect(out, line).toHaveLength(1);
      expect(out[0], line).toMatch(/^Error: /);
      expect(out[0], line).toMatch(pattern);
    }
    expect(await srv.run('inbound_audit count_cidr 203.0.113.0/24 bad 60,5 0 4')).toEqual(['9']);
  });

  it('series list shows every series with shape, keys and options', async () => {
    const out = await srv.run('series list');
    expect(out).toContain('bad cidr 60,5 keys=2 persist=true serialize=false replicate=none');
    expect(out).toContain('bad6 cidr_ipv6 60,5 keys=1 persist=false serialize=false replicate=none');
    // Dot stuffing: a line starting with "." survives the framing.
    expect(out).toContain('.dot string 60,5 keys=0 persist=false serialize=false replicate=none');
  });

  it('status reports generation, scripts, sessions, tracked keys and degraded events', async () => {
    const out = await srv.run('status');
    expect(out).toContain('generation: 1');
    expect(out).toContain('scripts: policy');
    expect(out).toContain('open sessions: 0');
    expect(out).toContain('monitors: 60,3 300,2');
    expect(out).toContain('series: 4');
    // bad: two loaded addresses; bad6: one; senders: one key.
    expect(out).toContain('tracked series keys: 4');
    expect(out).toContain('degraded events: 0');
    expect(out).toContain('last reload error: none');
    expect(out.find((l) => l.startsWith('tracked addresses: '))).toMatch(/^tracked addresses: [1-9]\d*$/);
  });

  it('reload rebuilds the generation, keeps the live one on a broken script and reports why', async () => {
    // An explicit reload rebuilds even when the files are unchanged (issue 16: recover a poisoned generation).
    expect(await srv.run('reload')).toEqual(['OK generation 2']);
    writeFileSync(join(dir, 'scripts', 'policy.lua'), `${LUA}\n-- touched\n`);
    expect(await srv.run('reload')).toEqual(['OK generation 3']);
    writeFileSync(join(dir, 'scripts', 'policy.lua'), 'local x = = 1\n');
    const out = await srv.run('reload');
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^Error: reload failed, generation 3 stays live: .*policy/);
    const status = await srv.run('status');
    expect(status).toContain('generation: 3');
    expect(status.find((l) => l.startsWith('last reload error: '))).toMatch(/policy/);
    // The series survived both rebuilds (identical define keeps the data).
    expect(await srv.run('inbound_audit count_cidr 203.0.113.0/24 bad 60,5 0 4')).toEqual(['9']);
    writeFileSync(join(dir, 'scripts', 'policy.lua'), LUA);
  });

  it('answers commands on one connection in order', async () => {
    const c = await srv.console();
    try {
      const answers = await Promise.all(['status', 'series list', 'inbound_audit count_cidr 203.0.113.5 bad 60,5 0 0'].map((l) => c.run(l)));
      expect(answers[0]![0]).toMatch(/^generation: /);
      expect(answers[1]![0]).toMatch(/^bad /);
      expect(answers[2]).toEqual(['7']);
    } finally {
      c.close();
    }
  });
});
