/**
 * `moonwatch test --watch`: re-runs the fixtures a change affects. A fixture
 * depends on its own file, its scripts directory and its config file; a new
 * fixture file in a watched directory is run as soon as it appears.
 */
import { existsSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { loadConfigFile } from '../config/load.ts';
import { discoverFixtures, isFixturePath } from './discover.ts';
import { loadFixtureFile } from './load-fixture.ts';

export interface WatchOptions {
  /** The files and directories the user named. */
  readonly paths: readonly string[];
  /** Runs (and reports) these fixtures; calls never overlap. */
  readonly onChange: (fixtures: string[]) => Promise<void>;
  /** Quiet period before a burst of file events triggers a run. */
  readonly debounceMs?: number;
}

export interface FixtureWatcher {
  /** Resolves once the initial scan is done and changes are being seen. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

interface Deps {
  readonly dirs: readonly string[];
  readonly files: readonly string[];
}

export function watchFixtures(opts: WatchOptions): FixtureWatcher {
  const roots = opts.paths.map((p) => resolve(p));
  let fixtures = discoverFixtures(opts.paths);
  const deps = new Map<string, Deps>();
  fixtures.forEach((f) => deps.set(f, dependenciesOf(f)));

  const watcher: FSWatcher = watch([...roots, ...allTargets(deps)], { ignoreInitial: true, awaitWriteFinish: false });
  const pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const flush = (): void => {
    timer = undefined;
    const changed = [...pending];
    pending.clear();
    running = running.then(async () => {
      fixtures = discoverFixtures(opts.paths.filter((p) => existsSync(p)));
      const affected = fixtures.filter((f) => changed.some((c) => c === f || dependsOn(deps.get(f), c)));
      for (const f of affected) {
        deps.set(f, dependenciesOf(f));
      }
      const targets = allTargets(deps);
      if (targets.length > 0) watcher.add(targets);
      if (affected.length > 0) await opts.onChange(affected);
    });
  };

  const onEvent = (path: string): void => {
    const abs = resolve(path);
    if (abs.endsWith('~') || abs.includes(`${sep}.`)) return;
    pending.add(abs);
    if (isFixturePath(abs) && !deps.has(abs)) deps.set(abs, dependenciesOf(abs));
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(flush, opts.debounceMs ?? 100);
  };
  watcher.on('add', onEvent).on('change', onEvent).on('unlink', onEvent);

  const ready = new Promise<void>((res) => watcher.once('ready', () => res()));
  return {
    ready,
    async close() {
      if (timer !== undefined) clearTimeout(timer);
      await watcher.close();
      await running;
    },
  };
}

/** What a fixture reads besides itself; a fixture that does not load depends on nothing else. */
function dependenciesOf(file: string): Deps {
  try {
    const f = loadFixtureFile(file);
    const dirs: string[] = [];
    const files: string[] = [];
    if (f.policy.scripts !== undefined) dirs.push(f.policy.scripts);
    if (f.policy.config !== undefined) {
      files.push(f.policy.config);
      try {
        dirs.push(loadConfigFile(f.policy.config).scripts.dir);
      } catch {
        // A broken config is reported when the fixture runs; watching the file is enough.
      }
    }
    return { dirs, files };
  } catch {
    return { dirs: [], files: [] };
  }
}

function dependsOn(d: Deps | undefined, changed: string): boolean {
  if (d === undefined) return false;
  return d.files.includes(changed) || d.dirs.some((dir) => changed === dir || changed.startsWith(dir + sep));
}

function allTargets(deps: Map<string, Deps>): string[] {
  const set = new Set<string>();
  for (const d of deps.values()) {
    d.dirs.forEach((x) => set.add(x));
    d.files.forEach((x) => set.add(x));
  }
  return [...set];
}
