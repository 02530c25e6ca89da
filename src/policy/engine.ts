import { isDeepStrictEqual } from 'node:util';
import { monotonicMs } from '../clock.ts';
import { errorMessage } from '../errors.ts';
import { ScriptFault } from '../lua/errors.ts';
import { modulePathToFile } from '../lua/sources.ts';
import { readSnapshot, type ScriptSnapshot, snapshotOf } from '../lua/snapshot.ts';
import { ScriptWatcher } from '../lua/watcher.ts';
import { sieveFiles } from '../sieve/config.ts';
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
  /** Script faults stopped by each limit (instructions, wall-clock, memory, string-size), since start. */
  limitFaults: Record<string, number>;
  /** Generations retired because they retained more than their memory bound, since start. */
  memoryRetirements: number;
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
  private reloadingForced = false;
  private readonly warned = new Set<string>();
  private env: SessionEnvironment;
  /** Set by reconfigure(): the next reload builds even if the script files are unchanged. */
  private optionsChanged = false;
  /** Options a reconfigure() is building with; they replace opts when that build goes live. */
  private pending: EngineOptions | undefined;
  private loadedAt: number;
  private readonly limitFaults: Record<string, number> = {};
  private memoryRetirements = 0;
  /** Generations whose rebuild failed: not retried after every phase. */
  private readonly unrebuildable = new WeakSet<Generation>();

  static async create(opts: EngineOptions): Promise<Engine> {
    const engine = new Engine(opts);
    engine.install(engine.build(await engine.snapshot()));
    return engine;
  }

  private constructor(private opts: EngineOptions) {
    this.loadedAt = opts.clock.now();
    this.env = this.environment(opts);
  }

  private environment(opts: EngineOptions): SessionEnvironment {
    return {
      store: opts.store,
      clock: opts.clock,
      logger: opts.logger,
      failureMode: opts.failureMode ?? DEFAULT_FAILURE_MODE,
      receptionUnit: opts.receptionUnit ?? 'recipient',
      hostname: opts.hostname ?? 'localhost',
      onClose: (gen) => this.sessionClosed(gen),
      observer: opts.observer,
      onOverRetained: (gen) => this.retireBloated(gen),
      countLimit: (limit) => {
        this.limitFaults[limit] = (this.limitFaults[limit] ?? 0) + 1;
      },
    };
  }

  /**
   * Rebuilds the scripts with new options (a re-read config): failure mode,
   * budgets, module list, allow_io … apply to the sessions that open from then
   * on, and the generation is rebuilt even when no script file changed. If the
   * build fails, the previous options and generation stay, as with reload().
   */
  async reconfigure(opts: EngineOptions, reason = 'config change'): Promise<ReloadResult> {
    await this.reloading;
    const previous = this.opts;
    // Built with these; sessions get them only when the generation built from them goes live.
    this.pending = opts;
    // Only options the scripts are built or run with force a rebuild; an unchanged config is a plain reload.
    this.optionsChanged = !isDeepStrictEqual(buildInputs(previous), buildInputs(opts));
    let result: ReloadResult;
    try {
      result = await this.reload(reason);
    } finally {
      this.pending = undefined;
      this.optionsChanged = false;
    }
    if (result.ok && this.watcher !== undefined && previous.scripts.dir !== opts.scripts.dir) {
      await this.watcher.close();
      this.watcher = undefined;
      await this.watch();
    }
    return result;
  }

  /** When the live generation was installed (clock ms). */
  get liveSince(): number {
    return this.loadedAt;
  }

  openSession(options: SessionOptions): PolicySession {
    const gen = this.live;
    const session = new Session(this.env, gen, `${gen.id}.${this.nextSession++}`, options);
    this.openSessions++;
    return session;
  }

  /**
   * Rebuilds from a consistent read of the scripts. An explicit reload
   * (console, SIGHUP, the library) always builds a fresh generation, so an
   * operator can recover a poisoned or bloated one without a restart; with
   * `ifChanged` (the file watcher) unchanged content keeps the live one. A
   * failed build keeps the live generation and reports file:line. Concurrent
   * calls share one rebuild; an explicit one arriving during a watcher
   * rebuild runs after it.
   */
  reload(reason = 'manual', opts: { ifChanged?: boolean } = {}): Promise<ReloadResult> {
    const force = opts.ifChanged !== true;
    if (this.reloading !== undefined && force && !this.reloadingForced) {
      return this.reloading.then(() => this.reload(reason, opts));
    }
    if (this.reloading === undefined) this.reloadingForced = force;
    this.reloading ??= this.doReload(reason, force).finally(() => {
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
        await this.reload(`file change: ${paths.slice(0, 3).join(', ')}`, { ifChanged: true });
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
      limitFaults: { ...this.limitFaults },
      memoryRetirements: this.memoryRetirements,
    };
  }

  /**
   * The live generation retains more than its bound: build a fresh one from
   * the same scripts (Momentum recycles interpreters too) and retire it. Its
   * open sessions finish on it; new sessions get the fresh one.
   */
  private retireBloated(gen: Generation): void {
    if (gen !== this.live || this.unrebuildable.has(gen)) return;
    const log = this.opts.logger;
    const { bytes, limit } = gen.retained;
    try {
      const fresh = this.build({ files: new Map(), hash: gen.hash, reader: gen.sources });
      this.install(fresh);
      this.memoryRetirements++;
      log.warn(
        { generation: gen.id, replacement: fresh.id, retained_bytes: bytes, limit_bytes: limit, limit: 'retained-memory' },
        'script generation retained more than its memory bound; retired and rebuilt from the same scripts',
      );
    } catch (err) {
      this.unrebuildable.add(gen);
      log.error({ generation: gen.id, retained_bytes: bytes, err: errorMessage(err) }, 'could not rebuild a bloated script generation; it stays live');
    }
  }

  async close(): Promise<void> {
    await this.watcher?.close();
    this.watcher = undefined;
    await this.reloading;
  }

  /** The options the next build uses: a reconfigure's, else the live ones. */
  private get target(): EngineOptions {
    return this.pending ?? this.opts;
  }

  /** A reconfigure's options go live with the generation built from them (or with the unchanged one). */
  private adoptPending(): void {
    if (this.pending === undefined) return;
    this.opts = this.pending;
    this.env = this.environment(this.pending);
  }

  private async snapshot(): Promise<ScriptSnapshot> {
    if (this.target.sources) {
      // In-memory sources (harness): the reader is the snapshot; hash what the modules resolve to.
      const files = new Map<string, string>();
      for (const m of this.target.scripts.modules) {
        const rel = modulePathToFile(m);
        const text = this.target.sources!(rel);
        if (text !== undefined) files.set(rel, text);
      }
      for (const rel of sieveFiles(this.target.scripts.sieve)) {
        const text = this.target.sources!(rel);
        if (text !== undefined) files.set(rel, text);
      }
      return { ...snapshotOf(files), reader: this.target.sources! };
    }
    return readSnapshot(this.target.scripts.dir);
  }

  private build(snapshot: ScriptSnapshot): Generation {
    const o = this.target;
    return Generation.build({
      id: this.nextGeneration++,
      sources: snapshot.reader,
      modules: o.scripts.modules,
      hash: snapshot.hash,
      store: o.store,
      clock: o.clock,
      logger: o.logger,
      budget: o.budget,
      ...(o.maxRetainedBytes === undefined ? {} : { maxRetainedBytes: o.maxRetainedBytes }),
      ...(o.scripts.allowIo === undefined ? {} : { allowIo: o.scripts.allowIo }),
      ...(o.scripts.compatConnectionAlias === undefined ? {} : { compatConnectionAlias: o.scripts.compatConnectionAlias }),
      ...(o.scripts.sieve === undefined ? {} : { sieve: o.scripts.sieve }),
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

  private async doReload(reason: string, force: boolean): Promise<ReloadResult> {
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
    if (!force && snapshot.hash === this.live.hash && !this.optionsChanged) {
      log.debug({ reason, generation: this.live.id }, 'reload skipped: scripts unchanged');
      this.adoptPending();
      // The files are what the live generation was built from (a broken save undone): nothing is wrong any more.
      this.lastReloadError = undefined;
      return { ok: true, generation: this.live.id, unchanged: true };
    }
    try {
      const started = monotonicMs();
      const gen = this.build(snapshot);
      const previous = this.live.id;
      this.adoptPending();
      this.install(gen);
      this.optionsChanged = false;
      this.loadedAt = this.opts.clock.now();
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

/** The options a generation is built from or its sessions run with (not the shared objects). */
function buildInputs(o: EngineOptions): unknown {
  return [o.scripts, o.budget, o.failureMode, o.receptionUnit, o.hostname];
}
