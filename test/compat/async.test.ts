import { describe, expect, it, vi } from 'vitest';
import type { DnsAnswer, DnsQuery, DnsResolverLike } from '../../src/msys/compat-services.ts';
import { parseCidr } from '../../src/audit/address.ts';
import { runSession, testEngine } from '../helpers/engine.ts';
import { faultLines, fixtureServices, prints, runConnect } from './helpers.ts';

const DNS: Record<string, DnsAnswer> = {
  'ok.test A': { records: [{ value: '192.0.2.10' }, { value: '192.0.2.11' }] },
  'ok.test MX': { records: [{ value: 'mx2.ok.test', pref: 20 }, { value: 'mx1.ok.test', pref: 10 }] },
  'ok.test TXT': { records: [{ value: 'v=spf1 -all' }] },
  'empty.test A': { records: [] },
  'broken.test A': { error: 'SERVFAIL' },
  'slow.test A': { error: 'TIMEOUT' },
};

describe('msys.dnsLookup', () => {
  it('answers records, MX best-first (with priority pairs), empty tables, NXDOMAIN, SERVFAIL and TIMEOUT', async () => {
    const { out } = await runConnect(
      `
  local a = msys.dnsLookup("ok.test")
  print(#a, a[1], a[2])
  local mx = msys.dnsLookup("ok.test", "mx")
  print(mx[1], mx[2])
  local p = msys.dnsLookup("ok.test", "MX", { priority = true })
  print(p[1][1], p[1][2], p[2].pref, p[2].value)
  print(msys.dnsLookup("ok.test", "TXT")[1], #msys.dnsLookup("empty.test", "A"))
  print(msys.dnsLookup("missing.test"))
  print(msys.dnsLookup("broken.test"))
  print(msys.dnsLookup("slow.test"))`,
      { services: fixtureServices(DNS) },
    );
    expect(out).toEqual([
      '2\t192.0.2.10\t192.0.2.11',
      'mx1.ok.test\tmx2.ok.test',
      '10\tmx1.ok.test\t20\tmx2.ok.test',
      'v=spf1 -all\t0',
      'nil\tNXDOMAIN',
      'nil\tSERVFAIL',
      'nil\tTIMEOUT',
    ]);
  });

  it('throws for an invalid record type, giving the session the failure reply', async () => {
    const { t, verdict } = await runConnect(`msys.dnsLookup("ok.test", "SOA")`, { services: fixtureServices(DNS) });
    expect(verdict).toMatchObject({ action: 'tempfail', code: 451 });
    expect(faultLines(t)[0]).toContain("msys.dnsLookup: argument 2 (recordtype) must be one of A, AAAA, TXT, MX, PTR, NS, got 'SOA'");
  });

  it('works inside the script’s own coroutines (coroutine.wrap and coroutine.resume)', async () => {
    const { out } = await runConnect(
      `
  local f = coroutine.wrap(function(name) local r = msys.dnsLookup(name) coroutine.yield(r[1]) return "done" end)
  print(f("ok.test"), f())
  local co = coroutine.create(function() local r, e = msys.dnsLookup("missing.test") coroutine.yield(e) return msys.dnsLookup("ok.test")[2] end)
  print(coroutine.resume(co))
  print(coroutine.resume(co))
  print(coroutine.status(co))`,
      { services: fixtureServices(DNS) },
    );
    expect(out).toEqual(['192.0.2.10\tdone', 'true\tNXDOMAIN', 'true\t192.0.2.11', 'dead']);
  });

  it('cannot wait in init, and a callout may not yield by itself', async () => {
    const init = await testEngine({
      scripts: { 'p.lua': 'local m = {} function m:init() msys.dnsLookup("ok.test") return true end function m:validate_connect() return 0 end msys.registerModule("p", m)' },
      overrides: { compat: fixtureServices(DNS) },
    }).catch((e: unknown) => e);
    expect((init as Error).message).toContain('msys.dnsLookup: this call waits, and can only be called inside a phase callout');
    const { t, verdict } = await runConnect(`coroutine.yield(1)`);
    expect(verdict).toMatchObject({ action: 'tempfail' });
    expect(faultLines(t)[0]).toContain('attempt to yield from outside a coroutine');
  });

  it('lets 100 other sessions run to the end while one phase waits on DNS', async () => {
    let release!: (a: DnsAnswer) => void;
    const queries: DnsQuery[] = [];
    const dns: DnsResolverLike = {
      lookup: (q) => {
        queries.push(q);
        if (q.name === 'held.test') return new Promise<DnsAnswer>((resolve) => (release = resolve));
        return Promise.resolve({ records: [{ value: '192.0.2.99' }] });
      },
    };
    const t = await testEngine({
      scripts: {
        'p.lua': `local m = {}
function m:validate_connect(ac, vctx)
  local name = msys.expandMacro("%{i}") == "192.0.2.1" and "held.test" or "quick.test"
  local r, err = msys.dnsLookup(name)
  vctx:set(msys.core.VCTX_CONN, "answer", r and r[1] or err)
  if name == "held.test" then vctx:set_code(550, "5.7.1 held answer " .. tostring(r and r[1])) return msys.core.VALIDATE_DONE end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("p", m)`,
      },
      overrides: { compat: fixtureServices({}, { dns }) },
    });
    const held = runSession(t, '192.0.2.1');
    const others = await Promise.all(Array.from({ length: 100 }, (_, i) => runSession(t, `198.51.100.${i + 1}`)));
    expect(others.every((o) => o.verdicts['connect']!.action === 'continue')).toBe(true);
    expect(queries.filter((q) => q.name === 'quick.test')).toHaveLength(100);
    release({ records: [{ value: '203.0.113.7' }] });
    const { verdicts } = await held;
    expect(verdicts['connect']).toMatchObject({ action: 'reject', code: 550, text: 'held answer 203.0.113.7' });
  });

  it('answers nil, "TIMEOUT" when the phase time limit passes during a wait, and at once for any wait after it', async () => {
    let asked = 0;
    const dns: DnsResolverLike = {
      lookup: () => {
        asked++;
        // The second lookup fails late: its rejection must not go unhandled.
        return asked === 1 ? new Promise<DnsAnswer>(() => {}) : Promise.reject(new Error('late SERVFAIL'));
      },
    };
    const { out } = await runConnect(`print(msys.dnsLookup("never.test")) print(msys.dnsLookup("again.test"))`, { services: fixtureServices({}, { dns, phaseTimeoutMs: 50 }) });
    expect(out).toEqual(['nil\tTIMEOUT', 'nil\tTIMEOUT']);
    expect(asked).toBe(2);
  });

  it('keeps the instruction budget across a wait', async () => {
    const body = (loops: number) => `for i = 1, 60000 do end msys.dnsLookup("ok.test") ${loops > 1 ? 'for i = 1, 60000 do end' : ''}`;
    for (const [loops, action] of [
      [1, 'continue'],
      [2, 'tempfail'],
    ] as const) {
      const t = await testEngine({
        scripts: { 'p.lua': `local m = {} function m:validate_connect(ac, vctx) ${body(loops)} return 0 end msys.registerModule("p", m)` },
        overrides: { compat: fixtureServices(DNS), budget: { instructions: 100_000, wallMs: 10_000 } },
      });
      const { verdicts } = await runSession(t, '192.0.2.1');
      expect(verdicts['connect']!.action).toBe(action);
      if (action === 'tempfail') expect(faultLines(t)[0]).toContain('instruction budget exceeded');
    }
  });
});

describe('validate_dealloc that waits', () => {
  it('finishes before the session releases its gauge and Lua objects', async () => {
    let wake: () => void = () => undefined;
    const t = await testEngine({
      scripts: {
        'd.lua': `local m = {}
function m:validate_connect(ac, vctx) self.peer = "seen" return msys.core.VALIDATE_CONT end
function m:validate_dealloc()
  print("dealloc before")
  msys.sleep(1)
  print("dealloc after, self.peer " .. self.peer)
end
msys.registerModule("d", m)`,
      },
      modules: ['d'],
      overrides: { compat: fixtureServices({}, { sleep: () => new Promise<void>((r) => (wake = r)) }) },
    });
    const { session } = await runSession(t, '192.0.2.70', { keepOpen: true });
    session.close('quit');
    const open = () => t.store.gauges.count('SMTP', parseCidr('192.0.2.70/32'));
    // Waiting in dealloc: the session still counts, its self table is still there.
    expect(prints(t)).toEqual(['dealloc before']);
    expect(open()).toBe(1);
    wake();
    await vi.waitFor(() => expect(prints(t)).toEqual(['dealloc before', 'dealloc after, self.peer seen']));
    await vi.waitFor(() => expect(open()).toBe(0));
  });
});

describe('msys.sleep and msys.runInPool', () => {
  it('sleeps through the configured sleeper and rejects bad durations', async () => {
    const slept: number[] = [];
    const { out } = await runConnect(`print(msys.sleep(1.5)) print(pcall(msys.sleep, -1))`, {
      services: fixtureServices({}, { sleep: (ms) => (slept.push(ms), Promise.resolve()) }),
    });
    expect(slept).toEqual([1500]);
    expect(out[0]).toBe('true');
    expect(out[1]).toMatch(/^false\t.*argument 1 \(seconds\) must be between 0 and 3600, got -1/);
  });

  it('runs the waiting form like pcall, fire-and-forget jobs after the phase, and refuses unknown pools', async () => {
    const { out } = await runConnect(`
  print(msys.runInPool("IO", function() return 1, "two" end))
  print(msys.runInPool("CPU", function() error("boom", 0) end))
  msys.runInPool("IO", function() print("job ran") end, true)
  msys.runInPool("IO", function() return "r" end, function(ok, v) print("completion", ok, v) end, msys.core.ECTP_COMPLETE_CALLBACK_SCHED)
  print("phase ends")
  print(pcall(msys.runInPool, "GPU", function() end))`);
    expect(out.slice(0, 3)).toEqual(['true\t1\ttwo', 'false\tboom', 'phase ends']);
    expect(out[3]).toMatch(/^false\t.*thread pool 'GPU' does not exist/);
    expect(out.slice(4)).toEqual(['job ran', 'completion\ttrue\tr']);
  });

  it('starts the fire-and-forget jobs of a phase that waited and then faulted', async () => {
    const { t, out, verdict } = await runConnect(`
  msys.runInPool("IO", function() print("job ran") end, true)
  msys.sleep(0)
  print("woke")
  error("after the wait", 0)`);
    expect(verdict).toMatchObject({ action: 'tempfail', code: 451, fault: true });
    expect(faultLines(t)).toEqual(['validate_connect error: after the wait']);
    await vi.waitFor(() => expect(prints(t)).toContain('job ran'));
    expect(out[0]).toBe('woke');
  });
});

