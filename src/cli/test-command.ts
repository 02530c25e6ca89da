/**
 * `moonwatch test [files or dirs] [--watch] [--name TEXT] [--reporter junit]`:
 * runs fixtures through the real engine on a virtual clock. One line per
 * fixture; details for failures (with the scripts' faults and prints); exit
 * 0 when all pass, 1 when any fails or cannot run, 2 on bad usage. YAML
 * files found in a directory that are not fixtures (a config kept beside its
 * fixtures) are skipped and named.
 */
import { existsSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { monotonicMs } from '../clock.ts';
import { errorMessage } from '../errors.ts';
import { discoverFixtures, FixturePathError } from '../harness/discover.ts';
import { formatResult, formatSummary } from '../harness/report.ts';
import type { FixtureResult } from '../harness/result.ts';
import { runFixtureFile } from '../harness/runner.ts';
import { watchFixtures } from '../harness/watch.ts';
import { parseArgs, UsageError } from './args.ts';
import { fixtureNotes } from './fixture-notes.ts';
import { selectFixtures, type Skipped } from './fixture-select.ts';
import { junitXml } from './junit.ts';

export interface TestCommandIo {
  /** Results and summaries. */
  readonly out: (text: string) => void;
  /** Usage errors. */
  readonly err: (text: string) => void;
  readonly cwd: string;
  /** Resolves when watch mode should stop (default: SIGINT or SIGTERM). */
  readonly stopSignal?: Promise<void>;
}

const USAGE = `usage: moonwatch test [--watch] [--name TEXT] [--reporter human|junit] [FILE|DIR ...]

Runs fixture files (*.yaml, *.yml; directories are searched) through the real
policy engine on a virtual clock. Without paths: examples/fixtures. YAML files
in a directory that are not fixtures (no "steps:") are skipped and named.

  --watch            keep running; re-run fixtures when they or their scripts change
  -t, --name TEXT    run only fixtures whose name or path contains TEXT (case-insensitive)
  --reporter junit   print JUnit XML on stdout instead of lines (for CI)
  --help             this text`;

export async function runTestCommand(argv: string[], io: TestCommandIo = defaultIo()): Promise<number> {
  let watch: boolean;
  let filter: string | undefined;
  let reporter: 'human' | 'junit';
  let paths: string[];
  try {
    const args = parseArgs(argv, [
      { name: 'watch', switch: true },
      { name: 'name', alias: 't' },
      { name: 'reporter' },
      { name: 'help', alias: 'h', switch: true },
    ]);
    if (args.flags.has('help')) {
      io.out(USAGE);
      return 0;
    }
    watch = args.flags.has('watch');
    const n = args.flags.get('name');
    filter = typeof n === 'string' ? n : undefined;
    const r = args.flags.get('reporter') ?? 'human';
    if (r !== 'human' && r !== 'junit') throw new UsageError(`--reporter must be human or junit, not "${String(r)}"`);
    reporter = r;
    if (watch && reporter === 'junit') throw new UsageError('--reporter junit cannot be combined with --watch');
    paths = args.positional;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`moonwatch test: ${err.message.replace(/^unknown option/, 'unknown option')}\n${USAGE}`);
    return 2;
  }
  if (paths.length === 0 && !existsSync(resolve(io.cwd, 'examples/fixtures'))) {
    io.err(
      `moonwatch test: no fixtures given, and no examples/fixtures directory in ${io.cwd} (where it looks without arguments).\n` +
        'Give fixture files or directories: moonwatch test fixtures/ (see docs/fixtures.md).',
    );
    return 2;
  }
  const targets = paths.length > 0 ? paths : ['examples/fixtures'];
  let files: string[];
  let skipped: Skipped[];
  try {
    ({ files, skipped } = selectFixtures(targets, io.cwd, filter));
  } catch (err) {
    io.err(`moonwatch test: ${err instanceof FixturePathError ? err.message : errorMessage(err)}`);
    return 2;
  }
  if (reporter === 'human') for (const s of skipped) io.out(`skip  ${shortPath(s.file, io.cwd)}  (${s.why})`);
  if (files.length === 0 && !watch) {
    io.err(filter === undefined ? `moonwatch test: no fixture files (*.yaml, *.yml) in ${targets.join(' ')}` : `moonwatch test: no fixture in ${targets.join(' ')} matches --name "${filter}"`);
    return 2;
  }
  const code = await runAll(files, io, reporter, skipped);
  if (!watch) return code;

  const watcher = watchFixtures({
    paths: targets.map((p) => resolveFrom(io.cwd, p)),
    onChange: async (changed) => {
      const picked = changed.filter((f) => selectFixtures([f], io.cwd, filter).files.length > 0);
      if (picked.length === 0) return;
      io.out(`\n-- change detected: re-running ${picked.length === 1 ? '1 fixture' : `${picked.length} fixtures`}`);
      await runAll(picked, io, 'human', []);
    },
  });
  await watcher.ready;
  io.out('watching for changes (Ctrl-C to stop)');
  await (io.stopSignal ?? untilSignal());
  await watcher.close();
  return 0;
}

async function runAll(files: readonly string[], io: TestCommandIo, reporter: 'human' | 'junit', skipped: readonly Skipped[]): Promise<number> {
  const started = monotonicMs();
  const results: FixtureResult[] = [];
  for (const file of files) {
    // Fixtures run one at a time: each builds its own engine, and the output
    // order must not depend on scheduling.
    const r = await runFixtureFile(file, { logLevel: 'debug' });
    results.push(r);
    if (reporter === 'human') {
      io.out(formatResult(r, io.cwd));
      // What the scripts said: the fault behind a failing step, and their print() lines.
      if (!r.ok) {
        const notes = fixtureNotes(r);
        if (notes.length > 0) io.out(['      script output:', ...notes.map((n) => `        ${n}`)].join('\n'));
      }
    }
  }
  if (reporter === 'junit') io.out(junitXml(results, skipped, monotonicMs() - started, io.cwd));
  else io.out(formatSummary(results, monotonicMs() - started) + (skipped.length === 0 ? '' : `, ${skipped.length} skipped (not fixtures)`));
  return results.every((r) => r.ok) ? 0 : 1;
}

function shortPath(p: string, cwd: string): string {
  const rel = relative(cwd, p);
  return rel.startsWith('..') ? p : rel;
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
