import { mkdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import type { SeriesRegistry } from '../audit/series.ts';
import type { SeriesSnapshot } from '../audit/series-snapshot.ts';
import type { Clock } from '../clock.ts';
import { errorMessage, isMoonwatchError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { removeTempFiles } from './atomic-file.ts';
import { StrictStartError } from './errors.ts';
import { drive, encodeSeriesChunks, nextTurn, writeChunksAtomic, type Pause } from './series-file-async.ts';
import { readSeriesFile, seriesFile, setAside, writeSeriesFile } from './series-file.ts';

export interface SeriesPersistenceOptions {
  /** serialize_dir; created (mode 0700) at the first save. */
  dir: string;
  series: SeriesRegistry;
  clock: Clock;
  logger: Logger;
  /**
   * Until finishStartup(): an unusable file is left in place and recorded,
   * and finishStartup() throws StrictStartError (`serve --strict`).
   */
  strict?: boolean;
}

/**
 * Save and restore of series defined with persist=true (spec §11.1).
 *
 * Series exist only once the scripts' init has defined them, after the store
 * was built, so restoring is driven by definitions: the registry tells us
 * (onDefined) when init creates or reshapes a series, and a persisted one is
 * matched to its file there and then, before any session can count into it.
 * A series whose persist option was switched on in place is picked up by the
 * next checkpoint. A series is never saved before its file was dealt with, so
 * a checkpoint cannot overwrite state that was not read yet; one whose file
 * could not be read for another reason (permissions, I/O) is not saved at all
 * in this run.
 */
export class SeriesPersistence {
  readonly dir: string;
  private readonly series: SeriesRegistry;
  private readonly clock: Clock;
  private readonly logger: Logger;
  /** Series whose file was dealt with: these may be saved. */
  private readonly settled = new Set<string>();
  /** Series whose file could not be read: never saved over in this run. */
  private readonly blocked = new Set<string>();
  /** The shape each series had when its file was dealt with: a reshape deals with it again. */
  private readonly shapes = new Map<string, string>();
  private strict: boolean;
  private readonly startupFailures: StrictStartError[] = [];
  /** The checkpointAsync() running, if any. */
  private inFlight: Promise<number> | undefined;
  /** Bumped by every synchronous checkpoint: an async save begun before it must not land after it. */
  private saveEpoch = 0;

  constructor(opts: SeriesPersistenceOptions) {
    this.dir = opts.dir;
    this.series = opts.series;
    this.clock = opts.clock;
    this.logger = opts.logger;
    this.strict = opts.strict === true;
    for (const file of removeTempFiles(this.dir)) this.logger.info({ file }, 'removed the temp file of an interrupted save');
  }

  /**
   * A define ran (init runs again on every reload). A persisted series seen
   * for the first time, or rebuilt with a new shape, gets its saved state
   * back; an identical re-define changes nothing. Never throws.
   */
  onDefined(name: string): void {
    if (!this.series.has(name)) return;
    const info = this.series.info(name);
    if (!info.options.persist) return;
    const shape = `${info.type} ${info.interval},${info.windows}`;
    if (this.shapes.get(name) === shape) return;
    this.settled.delete(name);
    this.blocked.delete(name);
    this.tryRestore(name);
  }

  /** Ends the startup phase; under strict, throws if any saved series was unusable. */
  finishStartup(): void {
    this.restorePending();
    const failed = this.startupFailures.splice(0);
    this.strict = false;
    if (failed.length > 0) throw failed[0]!;
  }

  /** Restores every persisted series not dealt with yet; returns the names restored. */
  restorePending(): string[] {
    const restored: string[] = [];
    for (const info of this.series.list()) {
      if (!info.options.persist || this.settled.has(info.name) || this.blocked.has(info.name)) continue;
      if (this.tryRestore(info.name)) restored.push(info.name);
    }
    return restored;
  }

  /**
   * checkpoint() without stalling sessions: each series is snapshotted,
   * encoded and written in steps of a few milliseconds (see
   * series-file-async.ts), pausing between them. Calls never overlap (a call
   * while one runs gets that one's result); a synchronous checkpoint() made
   * meanwhile (the shutdown save) wins: a save it overtook is dropped.
   */
  checkpointAsync(pause: Pause = nextTurn): Promise<number> {
    this.inFlight ??= this.runCheckpointAsync(pause).finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async runCheckpointAsync(pause: Pause): Promise<number> {
    const epoch = this.saveEpoch;
    let saved = 0;
    let dirReady = false;
    for (const name of this.saveable()) {
      const path = seriesFile(this.dir, name);
      try {
        if (!dirReady) await mkdir(this.dir, { recursive: true, mode: 0o700 });
        dirReady = true;
        const snap = await drive(this.series.snapshotSliced(name), pause);
        const chunks = await encodeSeriesChunks(snap, pause);
        if (await writeChunksAtomic(path, chunks, () => this.saveEpoch === epoch)) saved++;
      } catch (err) {
        this.logger.error({ series: name, file: path, err: errorMessage(err) }, 'could not save audit series');
      }
      if (this.saveEpoch !== epoch) break;
    }
    return saved;
  }

  /** Saves every persisted series that may be saved; a failure is logged and the others still run. */
  checkpoint(): number {
    this.saveEpoch++;
    let saved = 0;
    let dirReady = false;
    for (const name of this.saveable()) {
      const path = seriesFile(this.dir, name);
      try {
        if (!dirReady) mkdirSync(this.dir, { recursive: true, mode: 0o700 });
        dirReady = true;
        writeSeriesFile(path, this.series.snapshot(name));
        saved++;
      } catch (err) {
        this.logger.error({ series: name, file: path, err: errorMessage(err) }, 'could not save audit series');
      }
    }
    return saved;
  }

  /**
   * The persisted series that may be saved (any restore still pending is
   * tried first). Lazy: during an asynchronous checkpoint a reload may
   * redefine a series whose saved state then cannot be restored, and that
   * file must not be overwritten, so each series is checked when its turn comes.
   */
  private *saveable(): Generator<string> {
    this.restorePending();
    for (const info of this.series.list()) if (info.options.persist && this.settled.has(info.name)) yield info.name;
  }

  private tryRestore(name: string): boolean {
    const info = this.series.info(name);
    this.shapes.set(name, `${info.type} ${info.interval},${info.windows}`);
    try {
      return this.restoreOne(name, this.strict);
    } catch (err) {
      if (err instanceof StrictStartError) {
        this.blocked.add(name);
        this.startupFailures.push(err);
        return false;
      }
      this.blocked.add(name);
      this.logger.error({ series: name, err: errorMessage(err) }, 'could not restore audit series: it starts empty and will not be saved in this run');
      return false;
    }
  }

  private restoreOne(name: string, strict: boolean): boolean {
    const path = seriesFile(this.dir, name);
    const info = this.series.info(name);
    let snap: SeriesSnapshot;
    try {
      snap = readSeriesFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.settled.add(name);
        return false;
      }
      if (!isMoonwatchError(err)) {
        this.blocked.add(name);
        this.logger.error({ series: name, file: path, err: errorMessage(err) }, 'could not read saved audit series: it starts empty and will not be saved in this run');
        if (strict) throw new StrictStartError(`cannot read ${path}: ${errorMessage(err)}`, { cause: err });
        return false;
      }
      return this.reject(name, path, 'corrupt', `${err.code}: ${err.message}`, strict, err);
    }
    if (snap.name !== name || snap.type !== info.type || snap.interval !== info.interval || snap.windows !== info.windows) {
      const was = `${snap.name} ${snap.type} ${snap.interval},${snap.windows}`;
      const now = `${name} ${info.type} ${info.interval},${info.windows}`;
      return this.reject(name, path, 'reshaped', `saved as ${was}, defined as ${now}`, strict);
    }
    let n: number;
    try {
      n = this.series.restore(snap);
    } catch (err) {
      // The checksum held, so the writer itself put bad data in: still not ours to trust.
      if (!isMoonwatchError(err)) throw err;
      return this.reject(name, path, 'corrupt', `${err.code}: ${err.message}`, strict, err);
    }
    this.settled.add(name);
    this.logger.info({ series: name, file: path, entries: n }, 'audit series restored');
    return true;
  }

  private reject(name: string, path: string, reason: 'corrupt' | 'reshaped', detail: string, strict: boolean, cause?: unknown): false {
    if (strict) {
      this.logger.fatal({ series: name, file: path, reason, detail }, 'saved audit series is unusable and --strict is set: refusing to start (file left in place)');
      throw new StrictStartError(`saved audit series "${name}" in ${path} is unusable (${detail})`, { cause });
    }
    const moved = setAside(path, reason, this.clock.now());
    this.settled.add(name);
    this.logger.error(
      { series: name, file: path, movedTo: moved, reason, detail },
      reason === 'corrupt'
        ? 'saved audit series is corrupt: moved aside, the series starts empty'
        : 'saved audit series has a different shape than its definition: moved aside, the series starts empty',
    );
    return false;
  }
}
