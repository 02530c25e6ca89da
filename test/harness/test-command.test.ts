import { afterEach, describe, expect, it } from 'vitest';
import { runTestCommand } from '../../src/cli/test-command.ts';
import { waitUntil } from '../helpers/wait.ts';
import { GATE, head, workspace, type Workspace } from './workspace.ts';

let ws: Workspace | undefined;
afterEach(() => ws?.remove());

const PASSING = head(['gate']) + '  - session: { from: 192.0.2.1, commands: [ehlo, { rcpt: x@y.test, expect: 503 }, quit] }\n';
const FAILING = head(['gate']) + '  - session:\n      from: 192.0.2.2\n      commands:\n        - ehlo\n        - mail\n        - { rcpt: nobody@example.test, expect: 250 }\n';

async function run(argv: string[], cwd: string, stopSignal?: Promise<void>) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runTestCommand(argv, { out: (t) => out.push(t), err: (t) => err.push(t), cwd, ...(stopSignal ? { stopSignal } : {}) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('moonwatch test', () => {
  it('prints one line per fixture and exits 0 when all pass', async () => {
    ws = workspace({ gate: GATE });
    ws.write('fixtures/a.yaml', PASSING.replace('./policies', '../policies'));
    ws.write('fixtures/sub/b.yml', PASSING.replace('./policies', '../../policies'));
    ws.write('fixtures/notes.txt', 'not a fixture');
    const r = await run(['fixtures'], ws.dir);
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toMatch(/^ok {4}fixtures\/a\.yaml {2}\(1 session, 0 checks, 0s virtual, \d+ ms\)$/);
    expect(lines[1]).toMatch(/^ok {4}fixtures\/sub\/b\.yml /);
    expect(lines[2]).toMatch(/^2 passed \(2 fixtures, \d+ ms\)$/);
  });

  it('prints the step, expected vs got and the transcript of a failure, and exits 1', async () => {
    ws = workspace({ gate: GATE });
    ws.write('ok.yaml', PASSING);
    ws.write('bad.yaml', FAILING);
    const r = await run(['bad.yaml', 'ok.yaml'], ws.dir);
    expect(r.code).toBe(1);
    expect(r.out).toContain([
      'FAIL  bad.yaml',
      '      at bad.yaml:11:13',
      '      step 1 (session s1 from 192.0.2.2): rcpt',
      '      expected: 250 [no tarpit]',
      '      got:      550 5.1.1 No such user [session stays open, no tarpit] (wanted code 250)',
      '      transcript:',
    ].join('\n'));
    expect(r.out).toContain('10:00:00 s1   C: RCPT TO:<nobody@example.test>\n        10:00:00 s1   S: 550 5.1.1 No such user');
    expect(r.out).toMatch(/\n1 passed, 1 failed \(2 fixtures, \d+ ms\)$/);
  });

  it('reports a fixture that cannot run with its code and file:line', async () => {
    ws = workspace({ gate: GATE });
    ws.write('typo.yaml', head(['gate']) + '  - advanse: 5m\n');
    const r = await run(['typo.yaml'], ws.dir);
    expect(r.code).toBe(1);
    expect(r.out).toContain('ERROR typo.yaml\n      MW_ERR_FIXTURE_SCHEMA: typo.yaml:6:5: unknown step "advanse"');
    expect(r.out).toMatch(/0 passed, 1 could not run/);
  });

  it('exits 2 on bad usage', async () => {
    ws = workspace({ gate: GATE });
    ws.write('empty/readme.txt', '');
    expect((await run(['--fast'], ws.dir)).code).toBe(2);
    const missing = await run(['nowhere.yaml'], ws.dir);
    expect(missing).toMatchObject({ code: 2, err: 'moonwatch test: nowhere.yaml: no such file or directory' });
    expect((await run(['empty'], ws.dir)).err).toMatch(/no fixture files/);
    const help = await run(['--help'], ws.dir);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^usage: moonwatch test \[--watch\]/);
  });

  it('--watch re-runs a fixture when its policy script changes', async () => {
    ws = workspace({ gate: GATE });
    ws.write('fixtures/a.yaml', PASSING.replace('./policies', '../policies'));
    ws.write('fixtures/b.yaml', head(['other'], undefined, '../other') + '  - advance: 1s\n');
    ws.write('other/other.lua', 'msys.registerModule("other", { validate_connect = function() return 0 end })');
    let stop!: () => void;
    const stopped = new Promise<void>((res) => (stop = res));
    const out: string[] = [];
    const done = runTestCommand(['--watch', 'fixtures'], { out: (t) => out.push(t), err: (t) => out.push(t), cwd: ws.dir, stopSignal: stopped });
    // "watching" is printed once chokidar reported `ready`: its initial scan is done
    // and every later write is seen, so no settling time is needed.
    await waitFor(() => out.some((l) => l.startsWith('watching')));
    // Now every connection is one too many.
    ws.write('policies/gate.lua', GATE.replace('if n > 3 then', 'if n > 0 then'));
    await waitFor(() => out.some((l) => l.startsWith('FAIL')));
    const rerun = out.slice(out.findIndex((l) => l.includes('-- change detected')));
    expect(rerun[0]).toBe('\n-- change detected: re-running 1 fixture');
    expect(rerun.some((l) => l.startsWith('FAIL  fixtures/a.yaml'))).toBe(true);
    expect(rerun.some((l) => l.includes('fixtures/b.yaml'))).toBe(false);

    // A fixture edited, and one added: each runs, nothing else does.
    out.length = 0;
    ws.write('fixtures/b.yaml', head(['other'], undefined, '../other') + '  - advance: 2s\n');
    await waitFor(() => out.some((l) => l.startsWith('ok    fixtures/b.yaml')));
    ws.write('fixtures/new.yaml', head(['other'], undefined, '../other') + '  - advance: 3s\n');
    await waitFor(() => out.some((l) => l.startsWith('ok    fixtures/new.yaml')));
    stop();
    expect(await done).toBe(0);
    expect(out.some((l) => l.includes('fixtures/a.yaml'))).toBe(false);
  }, 40_000);
});

const waitFor = (cond: () => boolean): Promise<void> => waitUntil(cond, 'watch output');
