/**
 * `moonwatch test [files or dirs] [--watch]`: runs fixtures through the real
 * engine on a virtual clock. One line per fixture; details for failures; exit
 * 0 when all pass, 1 when any fails or cannot run, 2 on bad usage.
 */
import { resolve } from 'node:path';
import { monotonicMs } from '../clock.ts';
import { errorMessage } from '../errors.ts';
import { discoverFixtures, FixturePathError } from '../harness/discover.ts';
import { formatResult, formatSummary } from '../harness/report.ts';
import type { FixtureResult } from '../harness/result.ts';
import { runFixtureFile } from '../harness/runner.ts';
import { watchFixtures } from '../harness/watch.ts';

export interface TestCommandIo {
  /** Results and summaries. */
  readonly out: (text: string) => void;
  /** Usage errors. */
  readonly err: (text: string) => void;
  readonly cwd: string;
  /** Resolves when watch mode should stop (default: SIGINT or SIGTERM). */
  readonly stopSignal?: Promise<void>;
}

const USAGE = `usage: moonwatch test [--watch] [FILE|DIR ...]

Runs fixture files (*.yaml, *.yml; directories are searched) through the real
policy engine on a virtual clock. Without paths: examples/fixtures.

  --watch   keep running; re-run fixtures when they or their scripts change
  --help    this text`;

export async function runTestCommand(argv: string[], io: TestCommandIo = defaultIo()): Promise<number> {
  const flags = argv.filter((a) => a.startsWith('-'));
  const paths = argv.filter((a) => !a.startsWith('-'));
  if (flags.includes('--help') || flags.includes('-h')) {
    io.out(USAGE);
    return 0;
  }
  const unknown = flags.filter((f) => f !== '--watch');
  if (unknown.length > 0) {
    io.err(`moonwatch test: unknown option ${unknown.join(' ')}\n${USAGE}`);
    return 2;
  }
  const targets = paths.length > 0 ? paths : ['examples/fixtures'];
  let files: string[];
  try {
    files = discoverFixtures(targets, io.cwd);
  } catch (err) {
    io.err(`moonwatch test: ${err instanceof FixturePathError ? err.message : errorMessage(err)}`);
    return 2;
  }
  if (files.length === 0 && !flags.includes('--watch')) {
    io.err(`moonwatch test: no fixture files (*.yaml, *.yml) in ${targets.join(' ')}`);
    return 2;
  }
  const code = await runAll(files, io);
  if (!flags.includes('--watch')) return code;

  const watcher = watchFixtures({
    paths: targets.map((p) => resolveFrom(io.cwd, p)),
    onChange: async (changed) => {
      io.out(`\n-- change detected: re-running ${changed.length === 1 ? '1 fixture' : `${changed.length} fixtures`}`);
      await runAll(changed, io);
    },
  });
  await watcher.ready;
  io.out('watching for changes (Ctrl-C to stop)');
  await (io.stopSignal ?? untilSignal());
  await watcher.close();
  return 0;
}

async function runAll(files: readonly string[], io: TestCommandIo): Promise<number> {
  const started = monotonicMs();
  const results: FixtureResult[] = [];
  for (const file of files) {
    // Fixtures run one at a time: each builds its own engine, and the output
    // order must not depend on scheduling.
    const r = await runFixtureFile(file, { logLevel: 'debug' });
    results.push(r);
    io.out(formatResult(r, io.cwd));
  }
  io.out(formatSummary(results, monotonicMs() - started));
  return results.every((r) => r.ok) ? 0 : 1;
}

function resolveFrom(cwd: string, p: string): string {
  return resolve(cwd, p);
}

function defaultIo(): TestCommandIo {
  return {
    out: (t) => process.stdout.write(`${t}\n`),
    err: (t) => process.stderr.write(`${t}\n`),
    cwd: process.cwd(),
  };
}

function untilSignal(): Promise<void> {
  return new Promise((res) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      res();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
