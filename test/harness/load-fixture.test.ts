import { describe, expect, it } from 'vitest';
import { FixtureError } from '../../src/harness/errors.ts';
import type { Command, SessionStep } from '../../src/harness/fixture.ts';
import { fixtureFromObject, loadFixture } from '../../src/harness/load-fixture.ts';

const HEAD = 'policy:\n  scripts: ./policies\n  modules: [gate]\nstart: 2025-03-03T10:00:00Z\nsteps:\n';

function errorOf(text: string): FixtureError {
  try {
    loadFixture(text, '/fx/case.yaml');
  } catch (err) {
    if (err instanceof FixtureError) return err;
    throw err;
  }
  throw new Error('expected a FixtureError');
}

function commandsOf(text: string): Command[] {
  return (loadFixture(HEAD + text, '/fx/case.yaml').steps[0] as SessionStep).commands as Command[];
}

describe('fixture errors point at file:line:col', () => {
  it('reports a YAML syntax error at its line', () => {
    const err = errorOf(HEAD + '  - session: { from: 192.0.2.1, commands: [quit]\n  - advance: 5m\n');
    expect(err.code).toBe('MW_ERR_FIXTURE_SYNTAX');
    expect(err.file).toBe('/fx/case.yaml');
    expect(err.line).toBe(7);
    expect(err.message).toMatch(/^\/fx\/case\.yaml:7:\d+: YAML: /);
  });

  it('reports a duplicate key as a syntax error', () => {
    const err = errorOf('name: a\nname: b\n' + HEAD);
    expect(err.code).toBe('MW_ERR_FIXTURE_SYNTAX');
    expect(err.line).toBe(2);
  });

  it('reports an unknown step at the step key', () => {
    const err = errorOf(HEAD + '  - advance: 5m\n  - sesion: { from: 192.0.2.1 }\n');
    expect(err.code).toBe('MW_ERR_FIXTURE_SCHEMA');
    expect(err.message).toBe('/fx/case.yaml:7:5: unknown step "sesion" (expected one of: seed, session, open, send, close, advance, assert, bulk)');
  });

  it('reports an unknown key inside a step', () => {
    const err = errorOf(HEAD + '  - session:\n      from: 192.0.2.1\n      comands: [quit]\n');
    expect(err.code).toBe('MW_ERR_FIXTURE_SCHEMA');
    expect([err.line, err.col]).toEqual([8, 7]);
    expect(err.problem).toMatch(/unknown key "comands" in session/);
  });

  it('reports a bad address with the store parser\'s reason', () => {
    const err = errorOf(HEAD + '  - session:\n      from: 192.0.2.300\n      commands: [quit]\n');
    expect(err.code).toBe('MW_ERR_FIXTURE_ADDRESS');
    expect([err.line, err.col]).toEqual([7, 13]);
    expect(err.problem).toMatch(/session\.from: .*192\.0\.2\.300/);
  });

  it('reports a CIDR with host bits set and suggests the network', () => {
    const err = errorOf(HEAD + '  - assert: { gauge: SMTP, cidr: 10.1.2.3/8, value: 0 }\n');
    expect(err.code).toBe('MW_ERR_FIXTURE_ADDRESS');
    expect(err.line).toBe(6);
    expect(err.problem).toMatch(/did you mean 10\.0\.0\.0\/8/);
  });

  it('refuses a relative "/24" where no peer exists', () => {
    const err = errorOf(HEAD + '  - assert: { gauge: SMTP, cidr: /24, value: 0 }\n');
    expect(err.code).toBe('MW_ERR_FIXTURE_ADDRESS');
    expect(err.problem).toMatch(/relative to a connecting peer/);
  });

  it('reports an unknown command and a bad reply expectation', () => {
    expect(errorOf(HEAD + '  - session: { from: 192.0.2.1, commands: [helo, auth] }\n').problem).toMatch(/unknown command "auth"/);
    const err = errorOf(HEAD + '  - session:\n      from: 192.0.2.1\n      commands:\n        - rcpt: a@b\n          expect: "55 no"\n');
    expect(err.code).toBe('MW_ERR_FIXTURE_SCHEMA');
    expect([err.line, err.col]).toEqual([10, 19]);
  });

  it('reports an invalid regular expression in a pattern', () => {
    const err = errorOf(HEAD + '  - assert: { log: "/(unclosed/", count: 1 }\n');
    expect(err.problem).toMatch(/invalid regular expression/);
    expect(err.line).toBe(6);
  });

  it('reports bad durations, times and counts', () => {
    expect(errorOf(HEAD + '  - advance: 5 minutes\n').problem).toMatch(/duration such as 90s/);
    expect(errorOf(HEAD.replace('2025-03-03T10:00:00Z', '2025-03-03T10:00:00')).problem).toMatch(/with a zone/);
    expect(errorOf(HEAD + '  - seed: { metric: connections, address: 192.0.2.1, count: 0 }\n').problem).toMatch(/seed\.count must be a whole number/);
    expect(errorOf(HEAD + '  - assert: { delivered: "about 3" }\n').problem).toMatch(/comparison such as/);
    const monitor = errorOf(HEAD + '  - assert: { counter: connections, monitor: "300;6", cidr: 192.0.2.1, value: 0 }\n');
    expect([monitor.code, monitor.line, monitor.col]).toEqual(['MW_ERR_FIXTURE_SCHEMA', 6, 46]);
    expect(monitor.problem).toMatch(/^monitor: invalid monitor "300;6"/);
  });

  it('refuses commands on a session that was never opened', () => {
    const err = errorOf(HEAD + '  - open: a\n    from: 192.0.2.1\n  - close: a\n  - send: a\n    ehlo: x\n');
    expect(err.code).toBe('MW_ERR_FIXTURE_SCHEMA');
    expect(err.line).toBe(9);
    expect(err.problem).toMatch(/session "a" is not open here/);
  });

  it('refuses per-command expectations in bulk traffic', () => {
    const err = errorOf(HEAD + '  - bulk: { sessions: 3, from: 10.0.0.0/8, commands: [{ ehlo: x, expect: 250 }] }\n');
    expect(err.problem).toMatch(/bulk commands take no expect/);
  });

  it('needs a policy with modules and at least one step', () => {
    expect(errorOf('policy: { scripts: . }\nstart: 0\nsteps: [{ advance: 1s }]\n').problem).toMatch(/needs "modules"/);
    expect(errorOf(HEAD.replace('steps:\n', 'steps: []\n')).problem).toMatch(/steps is empty/);
    expect(errorOf('').problem).toMatch(/empty/);
  });
});

describe('fixture format', () => {
  it('reads reply expectations in every form', () => {
    const cmds = commandsOf(`  - session:
      from: 192.0.2.1
      commands:
        - connect
        - { ehlo: mx.test, expect: 250 }
        - { mail: "<a@b.test>", expect: "550 5.7.1 /sender refused/i" }
        - { rcpt: c@d.test, expect: tempfail }
        - { rcpt: e@f.test, expect: { code: 421, disconnect: true, tarpit: 10s, fault: false } }
        - { rcpt: g@h.test, expect: any }
        - { rcpt: i@j.test, expect: { tarpit: true } }
`);
    expect(cmds.map((c) => c.verb)).toEqual(['connect', 'ehlo', 'mail', 'rcpt', 'rcpt', 'rcpt', 'rcpt']);
    expect(cmds[0]!.expect).toEqual({ any: false, outcome: 'ok', disconnect: false });
    expect(cmds[1]!.expect).toEqual({ any: false, code: 250 });
    const mail = cmds[2]!;
    expect(mail.verb === 'mail' && mail.arg).toBe('a@b.test');
    expect(mail.expect.code).toBe(550);
    expect(mail.expect.enhanced).toBe('5.7.1');
    const text = mail.expect.text!;
    expect(text.kind === 'regex' && text.re.test('Sender Refused by policy')).toBe(true);
    expect(cmds[3]!.expect).toEqual({ any: false, outcome: 'tempfail' });
    expect(cmds[4]!.expect).toEqual({ any: false, code: 421, disconnect: true, tarpitMs: 10_000, fault: false });
    expect(cmds[5]!.expect.any).toBe(true);
    expect(cmds[6]!.expect.tarpitMs).toBe('any');
  });

  it('keeps the text of a "code enhanced text" shorthand as a substring', () => {
    const [cmd] = commandsOf('  - session: { from: 192.0.2.1, commands: [{ rcpt: a@b, expect: "550 5.1.1 No such user" }] }\n');
    expect(cmd!.expect.text).toEqual({ kind: 'substring', text: 'No such user' });
  });

  it('reads data messages with headers, body, size and a failing sink', () => {
    const [cmd] = commandsOf(`  - session:
      from: 192.0.2.1
      commands:
        - data:
            headers: ["Subject: hi", "X-Tag: 1"]
            body: hello
            size: 2k
            deliver: fail
`);
    expect(cmd).toMatchObject({
      verb: 'data',
      deliver: 'fail',
      message: { headers: [['Subject', 'hi'], ['X-Tag', '1']], body: 'hello', size: 2048 },
    });
  });

  it('turns close into a send of quit, drop or timeout', () => {
    const f = loadFixture(HEAD + '  - { open: a, from: "2001:db8::1" }\n  - close: a\n    reason: timeout\n', '/fx/case.yaml');
    expect(f.steps[1]).toMatchObject({ kind: 'send', session: 'a', command: { verb: 'timeout' } });
  });

  it('resolves relative policy paths against the fixture file', () => {
    const f = loadFixture(HEAD.replace('./policies', '../lua') + '  - advance: 1s\n', '/srv/fx/case.yaml');
    expect(f.policy.scripts).toBe('/srv/lua');
    expect(f.startMs).toBe(Date.UTC(2025, 2, 3, 10, 0, 0));
  });

  it('accepts a plain object with the same rules, without positions', () => {
    const f = fixtureFromObject(
      { policy: { scripts: 'p', modules: ['gate'] }, start: 1741000000, steps: [{ advance: '90s' }, { bulk: { sessions: 2, from: '10.0.0.0/8' } }] },
      { baseDir: '/base' },
    );
    expect(f.policy.scripts).toBe('/base/p');
    expect(f.steps[0]).toMatchObject({ kind: 'advance', byMs: 90_000 });
    expect(f.steps[1]).toMatchObject({ kind: 'bulk', sessions: 2, pick: 'random', overMs: 0 });
    let err: FixtureError | undefined;
    try {
      fixtureFromObject({ policy: { scripts: 'p', modules: ['gate'] }, start: 0, steps: [{ jump: 1 }] });
    } catch (e) {
      err = e as FixtureError;
    }
    expect(err?.code).toBe('MW_ERR_FIXTURE_SCHEMA');
    expect(err?.line).toBeUndefined();
  });
});
