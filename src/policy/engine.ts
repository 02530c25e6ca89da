import { monotonicMs } from '../clock.ts';
import { errorMessage } from '../errors.ts';
import { ScriptFault } from '../lua/errors.ts';
import { modulePathToFile } from '../lua/sources.ts';
import { readSnapshot, type ScriptSnapshot, snapshotOf } from '../lua/snapshot.ts';
import { ScriptWatcher } from '../lua/watcher.ts';
import { DEFAULT_FAILURE_MODE, type EngineOptions } from './engine-options.ts';
import { Generation } from './generation.ts';
import { Session, type SessionEnvironment } from './session.ts';
import type { PolicyEngine, PolicySession, SessionOptions } from './session-api.ts';

export type ReloadResult =
  | { ok: true; generation: number; unchanged: boolean }
  | { ok: false; error: ScriptFault };

export interface EngineStatus {
  generation: number;
  scripts: string[];
  openSessions: number;
  liveGenerations: number;
  lastReloadError?: string;
}

/** Builds the first generation; a script that cannot load stops startup here. */
export async function createEngine(opts: EngineOptions): Promise<Engine> {
  return Engine.create(opts);
}

/**
 * Owns the script generations: builds them, pins each new session to the live
 * one, swaps in a new one on reload only if it built cleanly, and disposes an
 * old one when its last session closes.
 */
export class Engine implements PolicyEngine {
  private live!: Generation;
  private readonly retired = new Set<Generation>();
  private nextGeneration = 1;
  private nextSession = 1;
  private openSessions = 0;
  private lastReloadError: string | undefined;
  private watcher: ScriptWatcher | undefined;
  private reloading: Promise<ReloadResult> | undefined;
  private readonly warned = new Set<string>();
  private readonly env: SessionEnvironment;

  static async create(opts: EngineOptions): Promise<Engine> {
    const engine = new Engine(opts);
    engine.install(engine.build(await engine.snapshot()));
    return engine;
  }

  private constructor(private readonly opts: EngineOptions) {
    this.env = {
      store: opts.store,
      clock: opts.clock,
      logger: opts.logger,
      failureMode: opts.failureMode ?? DEFAULT_FAILURE_MODE,
      receptionUnit: opts.receptionUnit ?? 'recipient',
      hostname: opts.hostname ?? 'localhost',
      onClose: (gen) => this.sessionClosed(gen),
    };
  }

  openSession(options: SessionOptions): PolicySession {
    const gen = this.live;
    const session = new Session(this.env, gen, `${gen.id}.${this.nextSession++}`, options);
    this.openSessions++;
    return session;
  }

  /**
   * Rebuilds from a consistent read of the scripts. Unchanged content keeps the
   * live generation; a failed build keeps it too and reports file:line.
   * Concurrent calls share one rebuild.
   */
  reload(reason = 'manual'): Promise<ReloadResult> {
    this.reloading ??= this.doReload(reason).finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  async watch(): Promise<void> {
    if (this.watcher) return;
    this.watcher = new ScriptWatcher({
      dir: this.opts.scripts.dir,
      debounceMs: this.opts.scripts.reloadDebounceMs ?? 50,
      logger: this.opts.logger,
      onChange: async (paths) => {
        await this.reload(`file change: ${paths.slice(0, 3).join(', ')}`);
      },
    });
    await this.watcher.start();
  }

  status(): EngineStatus {
    return {
      generation: this.live.id,
      scripts: [...this.live.scripts],
      openSessions: this.openSessions,
      liveGenerations: 1 + this.retired.size,
      ...(this.lastReloadError === undefined ? {} : { lastReloadError: this.lastReloadError }),
    };
  }

  async close(): Promise<void> {
    await this.watcher?.close();
    this.watcher = undefined;
    await this.reloading;
  }

  private async snapshot(): Promise<ScriptSnapshot> {
    if (this.opts.sources) {
      // In-memory sources (harness): the reader is the snapshot; hash what the modules resolve to.
      const files = new Map<string, string>();
      for (const m of this.opts.scripts.modules) {
        const rel = modulePathToFile(m);
        const text = this.opts.sources(rel);
        if (text !== undefined) files.set(rel, text);
      }
      return { ...snapshotOf(files), reader: this.opts.sources };
    }
    return readSnapshot(this.opts.scripts.dir);
  }

  private build(snapshot: ScriptSnapshot): Generation {
    const o = this.opts;
    return Generation.build({
      id: this.nextGeneration++,
      sources: snapshot.reader,
      modules: o.scripts.modules,
      hash: snapshot.hash,
      store: o.store,
      clock: o.clock,
      logger: o.logger,
      budget: o.budget,
      ...(o.scripts.allowIo === undefined ? {} : { allowIo: o.scripts.allowIo }),
      ...(o.scripts.compatConnectionAlias === undefined ? {} : { compatConnectionAlias: o.scripts.compatConnectionAlias }),
      ...(o.compat === undefined ? {} : { compat: o.compat }),
      baseDir: o.scripts.dir,
      warnOnce: (key, message) => {
        if (this.warned.has(key)) return;
        this.warned.add(key);
        o.logger.warn(message);
      },
    });
  }

  private install(gen: Generation): void {
    const old = this.live as Generation | undefined;
    this.live = gen;
    if (old) {
      this.retired.add(old);
      this.sessionClosed(old, false);
    }
  }

  private async doReload(reason: string): Promise<ReloadResult> {
    const log = this.opts.logger;
    let snapshot: ScriptSnapshot;
    try {
      snapshot = await this.snapshot();
    } catch (err) {
      const fault = new ScriptFault('load', errorMessage(err), { cause: err });
      this.lastReloadError = fault.message;
      log.error({ reason, err: fault.message }, 'reload failed: scripts could not be read; keeping the live generation');
      return { ok: false, error: fault };
    }
    if (snapshot.hash === this.live.hash) {
      log.debug({ reason, generation: this.live.id }, 'reload skipped: scripts unchanged');
      return { ok: true, generation: this.live.id, unchanged: true };
    }
    try {
      const started = monotonicMs();
      const gen = this.build(snapshot);
      const previous = this.live.id;
      this.install(gen);
      this.lastReloadError = undefined;
      log.info(
        { reason, generation: gen.id, previous, build_ms: Math.round(monotonicMs() - started) },
        'reload: new script generation live',
      );
      return { ok: true, generation: gen.id, unchanged: false };
    } catch (err) {
      const fault = err instanceof ScriptFault ? err : new ScriptFault('load', errorMessage(err), { cause: err });
      this.lastReloadError = fault.message;
      log.error(
        { reason, script: fault.script, line: fault.line, generation: this.live.id, err: fault.message },
        'reload failed; keeping the live generation',
      );
      return { ok: false, error: fault };
    }
  }

  private sessionClosed(gen: Generation, counted = true): void {
    if (counted) this.openSessions--;
    if (gen !== this.live && gen.sessions === 0 && this.retired.delete(gen)) {
      gen.dispose();
      this.opts.logger.debug({ generation: gen.id }, 'old script generation released');
    }
  }
}
