/**
 * The JSON log on stdout is written in batches (src/log.ts): a write() per
 * line cost more than the line under load. A child process logs through
 * createLogger() with fs.writeSync counted, and reports what reached fd 1
 * and in how many writes.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const LOG = fileURLToPath(new URL('../../src/log.ts', import.meta.url));

interface Report {
  writes: number[];
  lines: { msg: string; level: string }[];
}

/** Runs `body` (with `logger` and `writes()`, the write sizes so far) in a child; what reached stdout is parsed. */
function child(body: string): Report {
  const script = `
    import fs from 'node:fs';
    const sizes = [];
    const real = fs.writeSync;
    fs.writeSync = (fd, data, ...rest) => { if (fd === 1) sizes.push(Buffer.byteLength(data)); return real.call(fs, fd, data, ...rest); };
    const { createLogger } = await import(process.argv[1]);
    const logger = createLogger({ level: 'info', iso: true });
    const writes = () => sizes.slice();
    const report = (key, value) => process.stderr.write(JSON.stringify({ [key]: value }) + '\\n');
    ${body}
    process.on('exit', () => report('writes', sizes));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, LOG], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const reported = Object.assign({}, ...r.stderr.trim().split('\n').map((l) => JSON.parse(l) as object)) as { writes: number[] } & Record<string, unknown>;
  const lines = r.stdout.trim() === '' ? [] : r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { msg: string; level: string });
  return { ...reported, lines };
}

describe('the JSON log on stdout', () => {
  it('writes a burst of lines in one write, after the burst, and loses none when the process ends on its own', () => {
    const r = child(`
      for (let i = 0; i < 50; i++) logger.info({ i }, 'line ' + i);
      report('duringBurst', writes().length);
    `) as Report & { duringBurst: number };
    expect(r.duringBurst).toBe(0);
    expect(r.writes).toHaveLength(1);
    expect(r.lines.map((l) => l.msg)).toEqual(Array.from({ length: 50 }, (_, i) => `line ${i}`));
    expect(r.lines.every((l) => l.level === 'info')).toBe(true);
  });

  it('writes at once when 64 KiB are pending, without waiting for the timer', () => {
    const r = child(`
      const pad = 'x'.repeat(1000);
      for (let i = 0; i < 55; i++) logger.info({ pad }, 'big ' + i);
      report('before', writes());
      for (let i = 55; i < 80; i++) logger.info({ pad }, 'big ' + i);
      report('duringBurst', writes());
    `) as Report & { before: number[]; duringBurst: number[] };
    expect(r.before).toEqual([]);
    expect(r.duringBurst.length).toBeGreaterThanOrEqual(1);
    expect(r.duringBurst[0]!).toBeGreaterThanOrEqual(64 * 1024);
    expect(r.lines).toHaveLength(80);
  });

  it('writes what is pending when flushed, as serve does before it exits', () => {
    const r = child(`
      logger.warn('last words');
      logger.flush();
      report('afterFlush', writes().length);
      process.exit(0);
    `) as Report & { afterFlush: number };
    expect(r.afterFlush).toBe(1);
    expect(r.lines.map((l) => [l.level, l.msg])).toEqual([['warn', 'last words']]);
  });
});
