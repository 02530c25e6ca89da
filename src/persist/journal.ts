import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SeriesRegistry } from '../audit/series.ts';
import type { SeriesSnapshot } from '../audit/series-snapshot.ts';
import type { Clock } from '../clock.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { removeTempFiles, writeFileAtomic } from './atomic-file.ts';

export interface SeriesJournalOptions {
  /** log_dir; created (mode 0700) at the first pass that has a series to journal. */
  dir: string;
  series: SeriesRegistry;
  clock: Clock;
  logger: Logger;
  /** maintenance_interval, seconds: the journal period. */
  periodSec: number;
}

type Counts = Map<number, Map<string, number>>;

/**
 * Journaling of series defined with serialize=true (spec §11.2, §14 #25):
 * each pass writes `<series>.<YYYYMMDD>T<HHMMSS>` (UTC, the period's end,
 * aligned to the period) holding what was counted since the previous pass.
 * The live series is not reset, so the period's counts are the difference
 * between this pass's windows and the last pass's, window by window (a
 * window's start identifies it across rotations).
 *
 * File format: a `#` header line, then one `<count> <key>` line per key with
 * a non-zero count, the key as a JSON string (string keys may hold spaces).
 */
export class SeriesJournal {
  readonly dir: string;
  private readonly series: SeriesRegistry;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly period: number;
  private readonly last = new Map<string, { shape: string; counts: Counts }>();

  constructor(opts: SeriesJournalOptions) {
    this.dir = opts.dir;
    this.series = opts.series;
    this.clock = opts.clock;
    this.logger = opts.logger;
    this.period = opts.periodSec;
    for (const file of removeTempFiles(this.dir)) this.logger.info({ file }, 'removed the temp file of an interrupted journal write');
  }

  /**
   * A define ran. For a series new to the journal (or rebuilt with a new
   * shape), what it holds now (restored by persistence) was journaled by an
   * earlier run, if at all: take it as the baseline. An identical re-define
   * (every reload) keeps the baseline, so nothing counted since is skipped.
   */
  onDefined(name: string): void {
    if (!this.series.has(name)) return;
    const info = this.series.info(name);
    if (!info.options.serialize) return;
    const prev = this.last.get(name);
    if (prev !== undefined && prev.shape === `${info.type} ${info.interval},${info.windows}`) return;
    const snap = this.series.snapshot(name);
    this.last.set(name, { shape: shapeOf(snap), counts: countsOf(snap) });
  }

  /** Writes one journal file per serialize series; returns the paths written. */
  pass(): string[] {
    const nowSec = Math.floor(this.clock.now() / 1000);
    const end = Math.floor(nowSec / this.period) * this.period;
    const written: string[] = [];
    const seen = new Set<string>();
    for (const info of this.series.list()) {
      if (!info.options.serialize) continue;
      seen.add(info.name);
      try {
        const snap = this.series.snapshot(info.name);
        const shape = shapeOf(snap);
        const prev = this.last.get(info.name);
        const now = countsOf(snap);
        // A reshaped series was rebuilt empty: everything in it is new.
        const oldestKept = Math.floor(nowSec / snap.interval) * snap.interval - (snap.windows - 1) * snap.interval;
        const delta = diff(now, prev !== undefined && prev.shape === shape ? prev.counts : new Map(), oldestKept);
        mkdirSync(this.dir, { recursive: true, mode: 0o700 });
        const path = this.fileFor(info.name, end);
        const header = `# moonwatch journal series=${JSON.stringify(info.name)} type=${info.type} period_start=${iso(end - this.period)} period_end=${iso(end)}\n`;
        const lines = [...delta].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([k, n]) => `${n} ${JSON.stringify(k)}\n`);
        writeFileAtomic(path, header + lines.join(''));
        this.last.set(info.name, { shape, counts: now });
        written.push(path);
      } catch (err) {
        this.logger.error({ series: info.name, err: errorMessage(err) }, 'could not write audit series journal');
      }
    }
    for (const name of this.last.keys()) if (!seen.has(name)) this.last.delete(name);
    return written;
  }

  private fileFor(name: string, endSec: number): string {
    const base = join(this.dir, `${name}.${stamp(endSec)}`);
    let path = base;
    // Two passes in one period (a restart) must not overwrite the first file.
    for (let i = 1; existsSync(path); i++) path = `${base}-${i}`;
    return path;
  }
}

/** YYYYMMDDTHHMMSS in UTC. */
export function stamp(sec: number): string {
  return new Date(sec * 1000).toISOString().replace(/[-:]/g, '').slice(0, 15);
}

function iso(sec: number): string {
  return new Date(sec * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

function shapeOf(s: SeriesSnapshot): string {
  return `${s.type} ${s.interval},${s.windows}`;
}

function countsOf(s: SeriesSnapshot): Counts {
  const out: Counts = new Map();
  for (const b of s.buckets) out.set(b.start, new Map(b.counts));
  return out;
}

/**
 * Per key, what changed in the windows since `prev`. A window that aged out
 * (start before `oldestKept`) is no change; a key that vanished from a window
 * still kept was removed (remove_item, console delete_ip): negative.
 */
function diff(now: Counts, prev: Counts, oldestKept: number): Map<string, number> {
  const out = new Map<string, number>();
  const bump = (k: string, d: number): void => {
    if (d !== 0) out.set(k, (out.get(k) ?? 0) + d);
  };
  for (const [start, m] of now) {
    const before = prev.get(start);
    for (const [k, n] of m) bump(k, n - (before?.get(k) ?? 0));
  }
  for (const [start, before] of prev) {
    if (start < oldestKept) continue;
    const m = now.get(start);
    for (const [k, n] of before) if (m?.has(k) !== true) bump(k, -n);
  }
  for (const [k, v] of out) if (v === 0) out.delete(k);
  return out;
}
