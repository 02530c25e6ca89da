import type { Logger } from '../log.ts';
import type { IpAddress } from './address.ts';
import { CounterGroup } from './counter-group.ts';
import type { MonitorSpec } from './monitor-spec.ts';
import { TrackBudget } from './track-budget.ts';

/** Built-in metrics in a fixed order: the index is the metric's group in a set. */
export const METRIC_NAMES = ['connections', 'receptions', 'rejections'] as const;

/**
 * Monitors that record the same events share tables: one counter group per
 * metric with a column per monitor, so recording into the default two
 * monitors costs the same probes as recording into one. The configured
 * monitors form one set; a monitor created lazily later gets a set of its own
 * (its windows start then). The cap applies to each set.
 */
export class MonitorSet {
  readonly specs: readonly MonitorSpec[];
  readonly budget: TrackBudget;
  readonly groups: readonly CounterGroup[];
  private readonly logger: Logger;
  private seenDegraded = 0;
  private capWarned = false;

  constructor(specs: readonly MonitorSpec[], cap: number, nowSec: number, nextSeed: () => number, logger: Logger) {
    this.specs = specs;
    this.budget = new TrackBudget(cap);
    this.logger = logger;
    const shapes = specs.map((s) => ({ width: s.width, windows: s.windows }));
    this.groups = METRIC_NAMES.map(() => new CounterGroup(shapes, nowSec, this.budget, nextSeed));
  }

  record(metric: number, addr: IpAddress, sec: number): void {
    this.groups[metric]!.add(addr, 1, sec);
    if (this.budget.degraded !== this.seenDegraded) this.noteDegraded();
  }

  maintain(sec: number): void {
    for (const g of this.groups) g.maintain(sec);
    if (!this.budget.atCap) this.capWarned = false;
  }

  private noteDegraded(): void {
    this.seenDegraded = this.budget.degraded;
    if (this.capWarned) return;
    this.capWarned = true;
    this.logger.warn(
      { monitors: this.specs.map((s) => s.canonical), cap: this.budget.cap, degradedEvents: this.budget.degraded },
      'audit monitors reached their cap on tracked addresses: events of new addresses are counted in their /24 (IPv4) or /64 (IPv6) block only',
    );
  }
}

/** A monitor is a column of a set. */
export interface Monitor {
  readonly spec: MonitorSpec;
  readonly set: MonitorSet;
  readonly col: number;
}
