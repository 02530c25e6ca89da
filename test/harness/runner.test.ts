import { afterEach, describe, expect, it } from 'vitest';
import { runFixture } from '../../src/harness/runner.ts';
import { GATE, head, workspace, type Workspace } from './workspace.ts';

let ws: Workspace | undefined;
afterEach(() => ws?.remove());

function gate(extra: Record<string, string> = {}): Workspace {
  ws = workspace({ gate: GATE, ...extra });
  return ws;
}

describe('sessions and replies', () => {
  it('passes when every reply is what the fixture expects', async () => {
    const r = await gate().run(head(['gate']) + `  - session:
      from: 192.0.2.10
      commands:
        - ehlo: mx.sender.test
        - mail: a@sender.test
        - { rcpt: nobody@example.test, expect: "550 5.1.1 No such user" }
        - rcpt: alice@example.test
        - data
        - quit
  - assert: { delivered: 1 }
`);
    expect(r.error).toBeUndefined();
    expect(r.failure).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.stats).toMatchObject({ steps: 2, sessions: 1, checks: 1, virtualMs: 0 });
  });

  it('fails at the command that got another reply, with expected, got and the transcript', async () => {
    const r = await gate().run(head(['gate']) + `  - session:
      from: 192.0.2.10
      commands:
        - ehlo: mx.sender.test
        - mail: a@sender.test
        - rcpt: nobody@example.test
          expect: 250
`);
    expect(r.ok).toBe(false);
    const f = r.failure!;
    expect(f.at).toMatchObject({ line: 11, col: 11 });
    expect(f.at.file).toMatch(/fixture\.yaml$/);
    expect(f.step).toBe('step 1 (session s1 from 192.0.2.10): rcpt');
    expect(f.expected).toBe('250 [no tarpit]');
    expect(f.got).toMatch(/^550 5\.1\.1 No such user \[session stays open, no tarpit\] \(wanted code 250\)$/);
    expect(f.transcript.map((l) => l.replace(/^\S+ s1\s+/, ''))).toEqual([
      '(connect from 192.0.2.10, session 1.1)',
      'S: 220 mx.moonwatch.test ESMTP moonwatch',
      'C: EHLO mx.sender.test',
      'S: 250 mx.moonwatch.test Hello [192.0.2.10]',
      'C: MAIL FROM:<a@sender.test>',
      'S: 250 2.1.0 Accepted',
      'C: RCPT TO:<nobody@example.test>',
      'S: 550 5.1.1 No such user',
    ]);
  });

  it('a default expectation is a plain success: an unexpected refusal fails', async () => {
    const r = await gate().run(head(['gate']) + `  - seed: { metric: connections, address: 192.0.2.10, count: 3 }
  - session: { from: 192.0.2.10, commands: [ehlo] }
`);
    expect(r.failure?.step).toBe('step 2 (session s1 from 192.0.2.10): connect');
    expect(r.failure?.got).toMatch(/^421 4\.7\.0 Too many connections \(4\) \[server closes/);
  });

  it('plays the front: out-of-order commands get 503 and count as rejections', async () => {
    const r = await gate().run(head(['gate']) + `  - session:
      from: 192.0.2.11
      commands:
        - { mail: a@b.test, expect: "503 5.5.1 send HELO/EHLO first" }
        - ehlo
        - { rcpt: c@d.test, expect: "503 5.5.1 need MAIL" }
        - mail
        - { data: , expect: "503 5.5.1 need RCPT" }
        - { protocol_error: 500 }
        - rset
  - assert: { counter: rejections, monitor: "300,6", cidr: 192.0.2.11, value: 4 }
`);
    expect(r.failure ?? r.error).toBeUndefined();
  });

  it('a sink that refuses the message gets 451 and nothing is counted as received', async () => {
    const r = await gate().run(head(['gate']) + `  - session:
      from: 192.0.2.12
      commands:
        - ehlo
        - mail
        - rcpt
        - { data: { deliver: fail }, expect: "451 4.3.0" }
        # The failed DATA ended the transaction, as on the wire.
        - { rcpt: ok@example.test, expect: "503 5.5.1 need MAIL" }
  - assert:
      - { delivered: 0 }
      - { counter: receptions, monitor: "300,6", cidr: 192.0.2.12, value: 0 }
`);
    expect(r.failure ?? r.error).toBeUndefined();
  });

  it('a script fault gets the failure mode reply, which fault: true recognises', async () => {
    const r = await gate({
      boom: `local m = {}
function m:validate_ehlo(str, ac, vctx)
  if tostring(str) == "crash.test" then error("kaboom") end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("boom", m)`,
    }).run(head(['boom']) + `  - session:
      from: 192.0.2.13
      commands:
        - ehlo: fine.test
        - ehlo: crash.test
          expect: { code: 451, enhanced: 4.3.0, fault: true }
  - assert:
      - { log: "/validate_ehlo error: .*kaboom/", level: error, count: 1 }
`);
    expect(r.failure ?? r.error).toBeUndefined();
  });

  it('an endless loop is stopped by the instruction budget, whatever the machine\'s speed', async () => {
    const r = await gate({
      spin: 'local m = {}\nfunction m:validate_ehlo(str, ac, vctx) while true do end end\nmsys.registerModule("spin", m)',
    }).run(head(['spin']).replace('start:', '  budget: { instructions: 50000, wall_ms: 60000 }\nstart:') + `  - session:
      from: 192.0.2.14
      commands:
        - ehlo:
          expect: { code: 451, enhanced: 4.3.0, fault: true }
        # The session survives the fault.
        - rset
`);
    expect(r.failure ?? r.error).toBeUndefined();
    expect(r.logs.some((l) => l.msg.startsWith('validate_ehlo error:') && l['fault'] === 'budget')).toBe(true);
  });
});

describe('time, seeds and windows', () => {
  it('seeds history into past windows of each monitor and series', async () => {
    const r = await gate({
      series: `local m = {}
function m:init() msys.audit_series.define("misses", "cidr", 600, 4) return true end
msys.registerModule("series", m)`,
    }).run(head(['gate', 'series']) + `  - seed: { metric: connections, address: 192.0.2.20, monitor: "300,6", window: 2, count: 2 }
  - seed: { metric: connections, address: 192.0.2.20, ago: 25m, count: 1 }
  - seed: { series: misses, address: 192.0.2.0/29, window: 3, count: 12 }
  - seed: { metric: rejections, address: 192.0.2.21, count: 5 }
  - assert:
      - { counter: connections, monitor: "300,6", cidr: 192.0.2.20, windows: 2, value: 2 }
      - { counter: connections, monitor: "300,6", cidr: 192.0.2.20, windows: 5, value: 1 }
      - { counter: connections, monitor: "300,6", cidr: 192.0.2.20, windows: 0..1, value: 0 }
      - { counter: connections, monitor: "1800,4", cidr: 192.0.2.20, windows: 1, value: 3 }
      - { counter: rejections, monitor: "60,10", cidr: 192.0.2.21, value: 5 }
      - { series: misses, key: 192.0.2.0/29, windows: 3, value: 12 }
      - { series: misses, key: 192.0.2.1, windows: 0..3, value: 2 }
  # The policy sees the same history: 3 earlier connections + this one > 3.
  - session:
      from: 192.0.2.20
      commands: [{ connect: , expect: { code: 421, text: "(4)", disconnect: true } }]
`);
    expect(r.failure ?? r.error).toBeUndefined();
  });

  it('refuses a seed into the past once time has started moving, at the seed\'s line', async () => {
    const r = await gate().run(head(['gate']) + `  - advance: 1m
  - seed: { metric: connections, address: 192.0.2.20, ago: 30s }
`);
    expect(r.error).toMatchObject({ code: 'MW_ERR_FIXTURE_STEP', line: 7 });
    expect(r.error!.message).toMatch(/must come before the first session, advance, assert or bulk step/);
  });

  it('reports a seed into a series the policy never defined', async () => {
    const r = await gate().run(head(['gate']) + '  - seed: { series: nope, address: 192.0.2.1, count: 2 }\n');
    expect(r.error).toMatchObject({ code: 'MW_ERR_FIXTURE_STEP', line: 6 });
    expect(r.error!.message).toMatch(/nope/);
  });

  it('advancing the clock rotates windows exactly as real time would', async () => {
    const r = await gate().run(head(['gate'], '2025-03-03T10:04:59Z') + `  - session: { from: 192.0.2.30, commands: [ehlo, quit] }
  - assert: { counter: connections, monitor: "300,6", cidr: 192.0.2.30, windows: 0, value: 1 }
  - advance: 1s
  - assert:
      - { counter: connections, monitor: "300,6", cidr: 192.0.2.30, windows: 0, value: 0 }
      - { counter: connections, monitor: "300,6", cidr: 192.0.2.30, windows: 1, value: 1 }
  - advance: { to: "2025-03-03T10:35:00Z" }
  - assert: { counter: connections, monitor: "300,6", cidr: 192.0.2.30, windows: 0..5, value: 0 }
`);
    expect(r.failure ?? r.error).toBeUndefined();
    expect(r.stats.virtualMs).toBe(30 * 60_000 + 1000);
  });

  it('refuses to move the clock backwards', async () => {
    const r = await gate().run(head(['gate']) + '  - advance: { to: "2025-03-03T09:00:00Z" }\n');
    expect(r.error).toMatchObject({ code: 'MW_ERR_FIXTURE_STEP', line: 6 });
  });

  it('tarpit_advances_clock makes every tarpit cost virtual time', async () => {
    const slow = { slow: 'local m = {}\nfunction m:validate_connect(ac, vctx) vctx:tarpit(30) return msys.core.VALIDATE_CONT end\nmsys.registerModule("slow", m)' };
    const body = `  - session: { from: 192.0.2.40, commands: [{ connect: , expect: { tarpit: 30s } }] }
  - session: { from: 192.0.2.40, commands: [{ connect: , expect: { tarpit: 30s } }] }
  - assert: { counter: connections, monitor: "60,10", cidr: 192.0.2.40, windows: WINDOWS, value: 2 }
`;
    const fixture = (advance: boolean, windows: string) =>
      head(['slow']).replace('steps:\n', `options: { tarpit_advances_clock: ${advance} }\nsteps:\n`) + body.replace('WINDOWS', windows);
    const w = gate(slow);
    expect((await w.run(fixture(true, '1'))).failure).toBeUndefined();
    expect((await w.run(fixture(false, '0'))).failure).toBeUndefined();
    expect((await w.run(fixture(true, '0'))).failure?.got).toBe('0');
  });
});

describe('overlapping sessions and gauges', () => {
  it('keeps named sessions open across steps and counts them in the gauge', async () => {
    const r = await gate().run(head(['gate']) + `  - { open: a, from: 192.0.2.50 }
  - { open: b, from: 192.0.2.50 }
  - { open: c, from: "2001:db8::50" }
  - send: b
    ehlo: mx.b.test
  - assert:
      - { gauge: SMTP, cidr: 192.0.2.50, value: 2 }
      - { gauge: SMTP, cidr: "2001:db8::/32", value: 1 }
  - close: a
    reason: drop
  - send: b
    mail: x@b.test
  - assert: { gauge: SMTP, cidr: 192.0.2.50, value: 1 }
  - close: b
    reason: timeout
  - close: c
  - assert:
      - { gauge: SMTP, cidr: 0.0.0.0/0, value: 0 }
      - { gauge: SMTP, cidr: "::/0", value: 0 }
`);
    expect(r.failure ?? r.error).toBeUndefined();
  });

  it('fails a command sent to a session the server already closed', async () => {
    const r = await gate().run(head(['gate']) + `  - seed: { metric: connections, address: 192.0.2.60, count: 3 }
  - open: a
    from: 192.0.2.60
    expect: disconnect
  - send: a
    ehlo: x.test
`);
    expect(r.failure?.step).toBe('step 3 (session a): ehlo');
    expect(r.failure?.got).toMatch(/closed: the server closed it after "421 4\.7\.0 Too many connections \(4\)"/);
  });

  it('closes sessions left open when the fixture ends', async () => {
    const r = await gate().run(head(['gate']) + '  - { open: a, from: 192.0.2.61 }\n');
    expect(r.ok).toBe(true);
    expect(r.logs.filter((l) => l.msg === 'session closed' && l['reason'] === 'shutdown')).toHaveLength(1);
  });
});

describe('bulk traffic', () => {
  const BULK = `  - bulk:
      sessions: 40
      from: 192.0.2.0/29
      over: 10m
      pick: PICK
      expect: { ok: 18, "421": 22, 4xx: 22, 5xx: 0, tarpitted: 0 }
  - assert: { counter: connections, monitor: "300,6", cidr: 192.0.2.0/29, windows: 0..5, value: 40 }
`;

  it('spreads sessions over the span and tallies their outcomes', async () => {
    const r = await gate().run(head(['gate']) + BULK.replace('PICK', 'sequential'));
    expect(r.failure ?? r.error).toBeUndefined();
    expect(r.stats).toMatchObject({ sessions: 40, virtualMs: 600_000 });
  });

  it('reports every outcome when a tally is off', async () => {
    const r = await gate().run(head(['gate']) + BULK.replace('PICK', 'sequential').replace('ok: 18', 'ok: 20'));
    expect(r.failure?.expected).toBe('ok sessions = 20');
    expect(r.failure?.got).toBe('18 (all outcomes: 421 22, 4xx 22, ok 18 of 40)');
  });

  it('draws random addresses from a seed: the same run every time', async () => {
    const w = gate();
    const text = head(['gate']) + '  - bulk: { sessions: 30, from: 198.18.0.0/15, over: 1h, seed: 42 }\n';
    const peers = async () => (await w.run(text)).logs.filter((l) => l.msg === 'session closed').map((l) => l['peer']);
    const first = await peers();
    expect(first).toHaveLength(30);
    expect(new Set(first).size).toBeGreaterThan(25);
    expect(await peers()).toEqual(first);
  });
});

describe('checks on logs and prints', () => {
  it('counts the lines scripts printed and the lines the engine logged', async () => {
    const r = await gate({
      talk: 'local m = {}\nfunction m:validate_ehlo(str, ac, vctx) print("hello " .. tostring(str)) return msys.core.VALIDATE_CONT end\nmsys.registerModule("talk", m)',
    }).run(head(['talk']) + `  - session: { from: 192.0.2.70, commands: [{ ehlo: one.test }, { ehlo: two.test }] }
  - assert:
      - { printed: "hello one.test", count: 1 }
      - { printed: "/^hello /", count: 2 }
      - { printed: "phase decision", count: 0 }
      - { log: "phase decision", level: debug, count: 2 }
  - assert: { printed: "goodbye" }
`);
    expect(r.failure?.step).toBe('step 3 (assert)');
    expect(r.failure?.expected).toBe('printed lines matching "goodbye" = >= 1');
    expect(r.failure?.got).toMatch(/^0 \(last 2 of 2 printed lines:\n {4}info: hello one\.test\n {4}info: hello two\.test\)$/);
  });

  it('refuses checks on a monitor that is not configured or windows it does not have', async () => {
    const w = gate();
    const bad = await w.run(head(['gate']) + '  - assert: { counter: connections, monitor: "120,5", cidr: 192.0.2.1, value: 0 }\n');
    expect(bad.error).toMatchObject({ code: 'MW_ERR_FIXTURE_STEP', line: 6 });
    const far = await w.run(head(['gate']) + '  - assert: { counter: connections, monitor: "300,6", cidr: 192.0.2.1, windows: 0..6, value: 0 }\n');
    expect(far.error?.message).toMatch(/window 6 is outside monitor 300,6 \(windows 0\.\.5\)/);
  });
});

describe('policies, isolation and the programmatic API', () => {
  it('reports a script that does not load with the script\'s own file and line', async () => {
    const r = await gate({ broken: 'local m = {}\nfunction m:validate_connect(ac, vctx)\n  return = 1\nend\n' }).run(head(['broken']) + '  - advance: 1s\n');
    expect(r.error).toMatchObject({ code: 'MW_ERR_FIXTURE_POLICY', line: 2 });
    expect(r.error!.message).toMatch(/broken\.lua:3/);
  });

  it('gives every fixture its own store, engine and clock', async () => {
    const w = gate();
    const text = head(['gate']) + `  - session: { from: 192.0.2.80, commands: [ehlo] }
  - session: { from: 192.0.2.80, commands: [ehlo] }
  - assert: { counter: connections, monitor: "300,6", cidr: 192.0.2.80, value: 2 }
`;
    const a = await w.run(text);
    const b = await w.run(text);
    expect(a.ok && b.ok).toBe(true);
    expect(b.logs.map((l) => l.msg)).toEqual(a.logs.map((l) => l.msg));
  });

  it('runs a fixture given as a plain object', async () => {
    const w = gate();
    const r = await runFixture(
      {
        name: 'inline',
        policy: { scripts: 'policies', modules: ['gate'] },
        start: '2025-03-03T10:00:00Z',
        steps: [{ session: { from: '192.0.2.90', commands: [{ rcpt: 'x@y.test', expect: 503 }] } }],
      },
      { baseDir: w.dir },
    );
    expect(r).toMatchObject({ ok: true, name: 'inline' });
    const bad = await runFixture({ policy: { scripts: 'policies', modules: ['gate'] }, start: 'soon', steps: [] }, { baseDir: w.dir });
    expect(bad.error?.code).toBe('MW_ERR_FIXTURE_SCHEMA');
  });
});
