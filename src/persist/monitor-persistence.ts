import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MonitorSnapshot } from '../audit/monitor-snapshot.ts';
import type { SnapshotBucket } from '../audit/series-snapshot.ts';
import { METRICS, type AuditStore } from '../audit/store.ts';
import type { Clock } from '../clock.ts';
import { errorMessage, isMoonwatchError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { writeFileAtomic } from './atomic-file.ts';
import { decodeState, encodeState } from './envelope.ts';
import { CorruptStateError, StrictStartError } from './errors.ts';
import { checkBuckets, setAside } from './series-file.ts';

export const MONITORS_KIND = 'audit-monitors';
/** No series file ends this way (those end in ".series"). */
export const MONITORS_FILE = 'monitors.state';

export interface MonitorPersistenceOptions {
  dir: string;
  store: AuditStore;
  clock: Clock;
  logger: Logger;
}

/**
 * Save and restore of the built-in monitors (inbound_audit.persist_monitors):
 * one file for all of them. A monitor is matched by its "W,N" string; one no
 * longer configured is dropped with a log line, one newly configured starts
 * empty. Restored before the listener opens, so no event is overwritten.
 */
export class MonitorPersistence {
  readonly path: string;
  private readonly dir: string;
  private readonly store: AuditStore;
  private readonly clock: Clock;
  private readonly logger: Logger;
  /** False when the file could not be read: it is then never saved over in this run. */
  private mayWrite = false;

  constructor(opts: MonitorPersistenceOptions) {
    this.dir = opts.dir;
    this.path = join(opts.dir, MONITORS_FILE);
    this.store = opts.store;
    this.clock = opts.clock;
    this.logger = opts.logger;
  }

  /** Loads the saved monitors; under strict an unusable file throws StrictStartError (and stays in place). */
  restore(strict = false): number {
    let text: Buffer;
    try {
      text = readFileSync(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.mayWrite = true;
        return 0;
      }
      this.logger.error({ file: this.path, err: errorMessage(err) }, 'could not read saved audit monitors: they start empty and will not be saved in this run');
      if (strict) throw new StrictStartError(`cannot read ${this.path}: ${errorMessage(err)}`, { cause: err });
      return 0;
    }
    let snaps: MonitorSnapshot[];
    try {
      snaps = checkMonitors(decodeState(MONITORS_KIND, text));
    } catch (err) {
      if (!isMoonwatchError(err)) throw err;
      const detail = `${err.code}: ${err.message}`;
      if (strict) {
        this.logger.fatal({ file: this.path, reason: 'corrupt', detail }, 'saved audit monitors are unusable and --strict is set: refusing to start (file left in place)');
        throw new StrictStartError(`saved audit monitors in ${this.path} are unusable (${detail})`, { cause: err });
      }
      const moved = setAside(this.path, 'corrupt', this.clock.now());
      this.mayWrite = true;
      this.logger.error({ file: this.path, movedTo: moved, reason: 'corrupt', detail }, 'saved audit monitors are corrupt: moved aside, the monitors start empty');
      return 0;
    }
    this.mayWrite = true;
    const configured = new Set(this.store.monitors());
    let entries = 0;
    for (const snap of snaps) {
      if (!configured.has(snap.monitor)) {
        this.logger.warn({ monitor: snap.monitor, file: this.path }, 'saved audit monitor is no longer configured: its data was dropped');
        continue;
      }
      try {
        entries += this.store.restoreMonitor(snap);
      } catch (err) {
        // The checksum held, so the writer put bad data in: drop that monitor's part, loudly.
        if (!isMoonwatchError(err)) throw err;
        this.logger.error({ monitor: snap.monitor, file: this.path, err: err.message }, 'saved audit monitor has bad entries: it starts empty');
      }
    }
    this.logger.info({ file: this.path, monitors: snaps.length, entries }, 'audit monitors restored');
    return entries;
  }

  save(): boolean {
    if (!this.mayWrite) return false;
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      const snaps = this.store.monitors().map((m) => this.store.monitorSnapshot(m));
      writeFileAtomic(this.path, encodeState(MONITORS_KIND, snaps));
      return true;
    } catch (err) {
      this.logger.error({ file: this.path, err: errorMessage(err) }, 'could not save audit monitors');
      return false;
    }
  }
}

function checkMonitors(v: unknown): MonitorSnapshot[] {
  if (!Array.isArray(v)) throw new CorruptStateError('monitors file: not a list');
  return v.map((m, i) => {
    if (m === null || typeof m !== 'object') throw new CorruptStateError(`monitors file: entry ${i} is not an object`);
    const o = m as Record<string, unknown>;
    const name = o['monitor'];
    const shape = typeof name === 'string' ? /^(\d+),(\d+)$/.exec(name) : null;
    if (shape === null) throw new CorruptStateError(`monitors file: entry ${i} has no "W,N" monitor`);
    const width = Number(shape[1]);
    const out: Record<string, SnapshotBucket[]> = {};
    for (const metric of METRICS) out[metric] = checkBuckets(o[metric], width, `monitor ${name} ${metric}`);
    return { monitor: name as string, connections: out['connections']!, receptions: out['receptions']!, rejections: out['rejections']! };
  });
}
