import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SeriesIdentity } from '../audit/remote-series.ts';
import type { Clock } from '../clock.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { writeFileAtomic } from '../persist/atomic-file.ts';
import { stamp } from '../persist/journal.ts';

/**
 * as_logger on a manager node (spec §11.4): adds to replicate = "manager"
 * series, from every node, accumulate for one log interval; each pass writes
 * one file per series holding exactly that period (`<series>.<YYYYMMDD>T<HHMMSS>`,
 * the format of the serialize journal) and starts the next period empty.
 */
export class ManagerJournal {
  readonly dir: string;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly period: number;
  private counts = new Map<string, { id: SeriesIdentity; keys: Map<string, number> }>();
  /** Sum of the adds received (all series), for status. */
  received = 0;

  constructor(opts: { dir: string; clock: Clock; logger: Logger; periodSec: number }) {
    this.dir = opts.dir;
    this.clock = opts.clock;
    this.logger = opts.logger;
    this.period = opts.periodSec;
  }

  add(id: SeriesIdentity, key: string, delta: number): void {
    let s = this.counts.get(id.name);
    if (s === undefined) {
      s = { id, keys: new Map() };
      this.counts.set(id.name, s);
    }
    s.keys.set(key, (s.keys.get(key) ?? 0) + delta);
    this.received += delta;
  }

  /** The counts of the period so far (console, tests). */
  current(name: string): ReadonlyMap<string, number> {
    return this.counts.get(name)?.keys ?? new Map();
  }

  /** Writes the period's files and resets; returns the paths written. */
  pass(): string[] {
    const nowSec = Math.floor(this.clock.now() / 1000);
    const end = Math.floor(nowSec / this.period) * this.period;
    const period = this.counts;
    this.counts = new Map();
    const written: string[] = [];
    for (const [name, s] of period) {
      const lines = [...s.keys].filter(([, n]) => n !== 0).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      if (lines.length === 0) continue;
      try {
        mkdirSync(this.dir, { recursive: true, mode: 0o700 });
        const path = join(this.dir, `${name}.${stamp(end)}`);
        const header = `# moonwatch journal series=${JSON.stringify(name)} type=${s.id.type} period_end=${new Date(end * 1000).toISOString()} source=cluster-manager\n`;
        writeFileAtomic(path, header + lines.map(([k, n]) => `${n} ${JSON.stringify(k)}\n`).join(''));
        written.push(path);
      } catch (err) {
        this.logger.error({ series: name, err: errorMessage(err) }, 'could not write the manager journal of a replicated series');
      }
    }
    return written;
  }
}
