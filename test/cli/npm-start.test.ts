/**
 * `npm start` under a supervisor: SIGTERM sent to npm reaches the server
 * (the start script execs Node), which drains and stops, and npm exits 0.
 * Run in a staging copy whose example config listens on a free port; the
 * prestart build is skipped (--ignore-scripts), so the bin runs the sources.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { monotonicMs } from '../../src/clock.ts';

const repo = resolve(import.meta.dirname, '../..');
let stage: string | undefined;
afterAll(() => {
  if (stage !== undefined) rmSync(stage, { recursive: true, force: true });
});

describe('npm start', () => {
  it('forwards SIGTERM to the server, which stops cleanly, and exits 0', async () => {
    stage = mkdtempSync(join(tmpdir(), 'mw-npm-start-'));
    for (const p of ['package.json', 'bin', 'examples']) cpSync(join(repo, p), join(stage, p), { recursive: true });
    symlinkSync(join(repo, 'src'), join(stage, 'src'), 'dir');
    symlinkSync(join(repo, 'node_modules'), join(stage, 'node_modules'), 'dir');
    const cfg = join(stage, 'examples', 'moonwatch.yaml');
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('"127.0.0.1:2525"', '"127.0.0.1:0"').replace(/socket: \S+/, `socket: ${join(stage, 'ctl.sock')}`));
    const npm = spawn('npm', ['start', '--ignore-scripts'], { cwd: stage, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });
    let out = '';
    npm.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    const exit = new Promise<number | null>((r) => npm.on('exit', (code) => r(code)));
    const until = monotonicMs() + 60_000;
    while (!out.includes('"msg":"moonwatch serving"')) {
      if (npm.exitCode !== null || monotonicMs() > until) throw new Error(`npm start did not serve: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    npm.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(out).toContain('"signal":"SIGTERM","grace_ms":10000,"msg":"shutting down"');
    expect(out).toContain('"msg":"moonwatch stopped"');
  }, 90_000);
});
