import type { AuditStore } from '../audit/store.ts';
import type { Clock } from '../clock.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { SeriesJournal } from './journal.ts';
import type { MonitorPersistence } from './monitor-persistence.ts';
import type { SeriesPersistence } from './series-persistence.ts';

export interface MaintenanceOptions {
  store: AuditStore;
  persistence?: SeriesPersistence;
  journal?: SeriesJournal;
  monitors?: MonitorPersistence;
  clock: Clock;
  logger: Logger;
  /** maintenance_interval, seconds. */
  intervalSec: number;
}

/**
 * The housekeeping pass of spec §14 #2, run on wall-clock multiples of the
 * interval (so journal files end on those boundaries): prune the store,
 * checkpoint persisted series, journal serialize series. Each step is
 * isolated: one failing never skips the others or stops the loop.
 */
export class MaintenanceLoop {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: MaintenanceOptions) {}

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  /** One pass; resolves when its series checkpoint (written in slices, see checkpointAsync) is on disk. */
  tick(): Promise<void> {
    const { store, persistence, journal, monitors, logger } = this.opts;
    step(logger, 'audit store maintenance', () => store.maintain());
    if (journal !== undefined) step(logger, 'audit series journal', () => journal.pass());
    if (monitors !== undefined) step(logger, 'audit monitors checkpoint', () => monitors.save());
    if (persistence === undefined) return Promise.resolve();
    return persistence.checkpointAsync().then(
      () => undefined,
      (err: unknown) => logger.error({ err: errorMessage(err) }, 'audit series checkpoint failed'),
    );
  }

  /** Stops the timer and saves persisted series one last time (the shutdown save). */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const { persistence, monitors, logger } = this.opts;
    if (persistence !== undefined) {
      step(logger, 'audit series shutdown save', () => {
        const n = persistence.checkpoint();
        logger.info({ series: n, dir: persistence.dir }, 'audit series saved');
      });
    }
    if (monitors !== undefined) step(logger, 'audit monitors shutdown save', () => monitors.save());
  }

  private schedule(): void {
    if (this.stopped) return;
    const iv = this.opts.intervalSec * 1000;
    const now = this.opts.clock.now();
    const delay = (Math.floor(now / iv) + 1) * iv - now;
    this.timer = setTimeout(() => {
      void this.tick();
      this.schedule();
    }, delay);
    this.timer.unref();
  }
}

function step(logger: Logger, what: string, fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    logger.error({ err: errorMessage(err) }, `${what} failed`);
  }
}
