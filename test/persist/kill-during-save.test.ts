import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { isTempFile } from '../../src/persist/atomic-file.ts';
import { readSeriesFile } from '../../src/persist/series-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'mw-kill-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every saver started; killed after each test, so none outlives a failed or timed-out test. */
const children = new Set<ChildProcess>();
const killAll = (): void => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
};
afterEach(killAll);
process.once('exit', killAll);

type KillAt = { kind: 'mid-write' } | { kind: 'random'; afterSaves: number; delayMs: number };

interface Run {
  /** The last save the child reported complete. */
  readonly acked: number;
  /** The save it was inside of when killed (mid-write runs only). */
  readonly inside?: number;
}

/**
 * Runs the saver from `start` and SIGKILLs it: either at the "mid-write" line
 * of save `start + 1 + ...` (it blocks there until killed), or `delayMs` after it
 * reported `afterSaves` saves, wherever it then is.
 */
function runAndKill(path: string, start: number, at: KillAt, pauseAt: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const args = [join(import.meta.dirname, 'fixtures/save-loop.ts'), path, String(start), ...(at.kind === 'mid-write' ? [String(pauseAt)] : [])];
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.add(child);
    let acked = start;
    let inside: number | undefined;
    let killing = false;
    const kill = (): void => {
      if (!killing) child.kill('SIGKILL');
      killing = true;
    };
    let buf = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buf += chunk;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        const saved = /^saved (\d+)$/.exec(l);
        if (saved) {
          acked = Number(saved[1]);
          if (at.kind === 'random' && acked - start === at.afterSaves) setTimeout(kill, at.delayMs);
        }
        const mid = /^mid-write (\d+)$/.exec(l);
        if (mid) {
          inside = Number(mid[1]);
          kill();
        }
      }
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => {
      children.delete(child);
      if (signal === 'SIGKILL') resolve({ acked, ...(inside !== undefined ? { inside } : {}) });
      else reject(new Error(`saver exited without being killed (code ${String(_code)}, ${String(signal)})`));
    });
  });
}

describe('kill -9 during saves', () => {
  it('never leaves a file that fails to load: each kill leaves the last complete save or the one after it', async () => {
    const path = join(dir, 'crash.series');
    let seq = 0;
    let kills = 0;
    let midWrite = 0;
    let leftTemp = 0;
    // Ten runs: every other one killed inside a write (at a random save), the rest at a
    // random instant after a random number of saves. Progress is counted in saves
    // reported, not in time, so a busy machine only makes the test slower.
    for (let run = 0; run < 10; run++) {
      const at: KillAt = run % 2 === 0 ? { kind: 'mid-write' } : { kind: 'random', afterSaves: 10 + Math.floor(Math.random() * 20), delayMs: Math.floor(Math.random() * 30) };
      const pauseAt = seq + 10 + Math.floor(Math.random() * 20);
      const r = await runAndKill(path, seq, at, pauseAt);
      kills++;
      if (at.kind === 'mid-write') {
        expect(r.inside).toBe(pauseAt);
        expect(r.acked).toBe(pauseAt - 1);
        midWrite++;
      }
      const snap = readSeriesFile(path);
      const onDisk = snap.buckets[0]!.start / 60;
      // The print follows the rename, so the file may be one ahead of the last "saved";
      // a kill inside a write leaves exactly the save before it.
      if (at.kind === 'mid-write') expect(onDisk).toBe(r.acked);
      else expect(onDisk === r.acked || onDisk === r.acked + 1).toBe(true);
      const temps = readdirSync(dir).filter(isTempFile);
      if (at.kind === 'mid-write') expect(temps.length).toBe(1);
      if (temps.length > 0) leftTemp++;
      for (const t of temps) rmSync(join(dir, t));
      seq = onDisk;
    }
    expect(kills).toBe(10);
    expect(midWrite).toBe(5);
    expect(leftTemp).toBeGreaterThanOrEqual(5);
    expect(seq).toBeGreaterThanOrEqual(100);
    expect(children.size).toBe(0);
  }, 120_000);

  it('a saver whose parent is gone exits by itself', async () => {
    // The saver is started by a shell that exits at once: the saver is orphaned and must
    // notice its parent changed rather than save forever. Its stdin is this test's pipe,
    // kept open, so only the orphan check can end it.
    const path = join(dir, 'orphan.series');
    const saver = `"${process.execPath}" --import tsx "${join(import.meta.dirname, 'fixtures/save-loop.ts')}" "${path}" 0`;
    const sh = spawn('sh', ['-c', `exec 3<&0; ${saver} <&3 >/dev/null & echo $!`], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    sh.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    await new Promise((r) => sh.on('close', r));
    const pid = Number(out.trim());
    expect(pid).toBeGreaterThan(0);
    const alive = (): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const until = performance.now() + 30_000;
    while (alive() && performance.now() < until) await new Promise((r) => setTimeout(r, 50));
    const stillAlive = alive();
    if (stillAlive) process.kill(pid, 'SIGKILL');
    sh.stdin.end();
    expect(stillAlive).toBe(false);
  }, 40_000);
});
