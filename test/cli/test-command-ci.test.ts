/**
 * `moonwatch test` for CI and for a project's own layout: JUnit XML, a name
 * filter, YAML beside the fixtures that is not a fixture, the search without
 * arguments, and a failing step shown with the script's fault and prints.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runTestCommand } from '../../src/cli/test-command.ts';
import { head, workspace, type Workspace } from '../harness/workspace.ts';

let ws: Workspace | undefined;
afterEach(() => ws?.remove());

const POLICY = `
local p = {}
function p:validate_rcptto(msg, rcpt, ac, vctx)
  print("checking " .. tostring(rcpt))
  if tostring(rcpt) == "boom@example.test" then
    error("lookup table missing")
  end
  if tostring(rcpt) == "nobody@example.test" then
    vctx:set_code(550, "5.1.1 No such user")
    return msys.core.VALIDATE_DONE
  end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("p", p)
`;

const fixture = (name: string, rcpt: string, code: number) =>
  `name: ${name}\n` + head(['p'], undefined, '../policies') + `  - session:\n      from: 192.0.2.1\n      commands: [ehlo, mail, { rcpt: ${rcpt}, expect: ${code} }, quit]\n`;

async function run(argv: string[], cwd: string) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runTestCommand(argv, { out: (t) => out.push(t), err: (t) => err.push(t), cwd });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

function setup(): Workspace {
  const w = workspace({ p: POLICY });
  w.write('fixtures/refuses.yaml', fixture('refuses unknown user', 'nobody@example.test', 550));
  w.write('fixtures/accepts.yaml', fixture('accepts alice', 'alice@example.test', 250));
  w.write('fixtures/broken.yaml', fixture('fault is a failure', 'boom@example.test', 250));
  w.write('fixtures/moonwatch.yaml', 'listen: ["127.0.0.1:2525"]\nscripts: { dir: ../policies, modules: [p] }\n');
  w.write('fixtures/notes.yml', 'just: some notes\n');
  return w;
}

describe('moonwatch test DIR with other YAML beside the fixtures', () => {
  it('skips the files that are not fixtures, naming each and why', async () => {
    ws = setup();
    const r = await run(['fixtures', '--name', 'refuses'], ws.dir);
    expect(r.code).toBe(0);
    expect(r.out).toContain('skip  fixtures/moonwatch.yaml  (not a fixture: a moonwatch config)');
    expect(r.out).toContain('skip  fixtures/notes.yml  (not a fixture: no "steps:")');
    expect(r.out).toMatch(/1 passed \(1 fixture, \d+ ms\), 2 skipped \(not fixtures\)$/);
  });

  it('still reports a file named on the command line that is not a fixture', async () => {
    ws = setup();
    const r = await run(['fixtures/moonwatch.yaml'], ws.dir);
    expect(r.code).toBe(1);
    expect(r.out).toContain('ERROR fixtures/moonwatch.yaml');
  });
});

describe('--name', () => {
  it('runs only fixtures whose name or path contains the text, case-insensitively', async () => {
    ws = setup();
    const byName = await run(['fixtures', '-t', 'ALICE'], ws.dir);
    expect(byName.out).toMatch(/ok {4}fixtures\/accepts\.yaml {2}accepts alice/);
    expect(byName.out).not.toContain('refuses.yaml');
    const byPath = await run(['fixtures', '--name', 'refuses.yaml'], ws.dir);
    expect(byPath.out).toMatch(/ok {4}fixtures\/refuses\.yaml/);
    const none = await run(['fixtures', '--name', 'zzz'], ws.dir);
    expect(none).toMatchObject({ code: 2, err: 'moonwatch test: no fixture in fixtures matches --name "zzz"' });
  });
});

describe('a failing step', () => {
  it('shows the script fault with script:line and everything the script printed', async () => {
    ws = setup();
    const r = await run(['fixtures', '--name', 'fault'], ws.dir);
    expect(r.code).toBe(1);
    expect(r.out).toContain('FAIL  fixtures/broken.yaml  fault is a failure');
    expect(r.out).toMatch(/script output:\n {8}print: checking boom@example\.test\n {8}script fault: p\.lua:6: validate_rcptto error: .*lookup table missing.* \(module p, phase rcptto\)/);
  });
});

describe('--reporter junit', () => {
  it('prints JUnit XML only: a testcase per fixture, failures, skipped files, script output', async () => {
    ws = setup();
    const r = await run(['fixtures', '--reporter', 'junit'], ws.dir);
    expect(r.code).toBe(1);
    expect(r.out.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="moonwatch" tests="5" failures="1" errors="0" skipped="2"')).toBe(true);
    expect(r.out).toMatch(/<testcase classname="fixtures\/broken\.yaml" name="fault is a failure" file="fixtures\/broken\.yaml" time="[\d.]+">\n {6}<failure type="expectation" message="step 1 [^"]*expected 250[^"]*, got 451/);
    expect(r.out).toContain('<testcase classname="fixtures/accepts.yaml" name="accepts alice"');
    expect(r.out).toContain('<skipped message="not a fixture: a moonwatch config"/>');
    expect(r.out).toMatch(/<system-out>print: checking boom@example\.test\nscript fault: p\.lua:6: /);
    expect(r.out.trimEnd().endsWith('</testsuites>')).toBe(true);
    expect(r.out).not.toMatch(/^ok /m);
  });

  it('refuses an unknown reporter (exit 2)', async () => {
    ws = setup();
    expect(await run(['--reporter', 'tap'], ws.dir)).toMatchObject({ code: 2, err: expect.stringContaining('--reporter must be human or junit, not "tap"') });
  });
});

describe('without arguments', () => {
  it('says where it looked when the project has no examples/fixtures', async () => {
    ws = workspace({});
    const r = await run([], ws.dir);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`no fixtures given, and no examples/fixtures directory in ${ws.dir} (where it looks without arguments)`);
  });
});
