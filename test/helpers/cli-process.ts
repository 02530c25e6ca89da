/** `node bin/moonwatch.js …` as a child process, its JSON log lines parsed as they arrive. */
import { spawn, type ChildProcess } from 'node:child_process';
import { monotonicMs } from '../../src/clock.ts';

export interface CliChild {
  proc: ChildProcess;
  /** Every JSON line written to stdout so far, parsed, and as written. */
  lines: Record<string, unknown>[];
  raw: string[];
  exit: Promise<number | null>;
  /** The first log line `pred` accepts, waiting for it (fails if the process exits first). */
  waitFor(pred: (l: Record<string, unknown>) => boolean, what: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

export function startCli(args: string[], opts: { stdout?: 'pipe' | 'inherit' } = {}): CliChild {
  const proc = spawn(process.execPath, ['bin/moonwatch.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  let partial = '';
  if (opts.stdout !== 'inherit') {
    proc.stdout!.on('data', (chunk: Buffer) => {
      partial += chunk.toString();
      const parts = partial.split('\n');
      partial = parts.pop()!;
      for (const p of parts) {
        if (p.trim() === '') continue;
        raw.push(p);
        lines.push(JSON.parse(p) as Record<string, unknown>);
      }
    });
  }
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return {
    proc,
    lines,
    raw,
    exit,
    async waitFor(pred, what, timeoutMs = 20_000) {
      const until = monotonicMs() + timeoutMs;
      for (;;) {
        const hit = lines.find(pred);
        if (hit !== undefined) return hit;
        if (proc.exitCode !== null || monotonicMs() > until) throw new Error(`no log line: ${what}; stderr: ${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}
