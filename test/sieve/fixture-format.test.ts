import { describe, expect, it } from 'vitest';
import { FixtureError } from '../../src/harness/errors.ts';
import { loadFixture } from '../../src/harness/load-fixture.ts';

const fixture = (policy: string[], steps: string[] = ['  - session: { from: 192.0.2.1, commands: [connect] }']) =>
  ['name: t', 'policy:', ...policy.map((l) => `  ${l}`), 'start: 2025-03-03T10:00:00Z', 'steps:', ...steps].join('\n');

function errorOf(text: string): string {
  try {
    loadFixture(text, '/tmp/f.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(FixtureError);
    return (err as Error).message;
  }
  throw new Error('fixture loaded');
}

describe('fixture format: policy.sieve and gauge seeds', () => {
  it('policy.sieve takes the config shape and can stand in for modules', () => {
    const f = loadFixture(fixture(['scripts: p', 'sieve:', '  connect_phase1: [a.siv]', '  rcptto: [b.siv, c.siv]', '  runtime_error: continue']), '/tmp/f.yaml');
    expect(f.policy.sieve).toEqual({ phases: { connect: ['a.siv'], rcptto: ['b.siv', 'c.siv'] }, runtimeError: 'continue' });
    expect(f.policy.modules).toBeUndefined();
  });

  it('refuses unknown phases and files that are not .siv, at their line', () => {
    expect(errorOf(fixture(['scripts: p', 'sieve:', '  conect: [a.siv]']))).toMatch(/f\.yaml:5:5: unknown key "conect" in policy\.sieve/);
    expect(errorOf(fixture(['scripts: p', 'sieve:', '  connect: [a.lua]']))).toMatch(/f\.yaml:5:15: .*"a\.lua": a Sieve script file name ends in \.siv/);
  });

  it('a gauge seed holds sessions of a service; it takes no window', () => {
    const f = loadFixture(fixture(['scripts: p', 'modules: [m]'], ['  - seed: { gauge: SMTP, address: 203.0.113.0/24, count: 10001 }']), '/tmp/f.yaml');
    expect(f.steps[0]).toMatchObject({ kind: 'seed', gauge: 'SMTP', address: '203.0.113.0/24', count: 10001 });
    expect(errorOf(fixture(['scripts: p', 'modules: [m]'], ['  - seed: { gauge: SMTP, address: 192.0.2.1, window: 2 }']))).toMatch(/a gauge seed takes "address" and "count", not "window"/);
    expect(errorOf(fixture(['scripts: p', 'modules: [m]'], ['  - seed: { gauge: smtp, address: 192.0.2.1 }']))).toMatch(/seed\.gauge/);
  });
});
