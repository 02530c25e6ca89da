import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import { parseAddress, type Cidr, type IpAddress } from './address.ts';
import { checkAddress, checkCidr } from './cidr-arg.ts';
import { ClusterState, type ClusterFamilies } from './cluster-state.ts';
import { BadMetricError, BadMonitorError, BadSeriesError, UnknownMonitorError } from './errors.ts';
import { SessionGauges } from './gauges.ts';
import { seedSequence } from './key-table.ts';
import type { MonitorSnapshot } from './monitor-snapshot.ts';
import { METRIC_NAMES, MonitorSet, type Monitor } from './monitor.ts';
import { parseMonitor, type MonitorSpec } from './monitor-spec.ts';
import type { SnapshotBucket } from './series-snapshot.ts';
import { SeriesRegistry } from './series.ts';
import { ageOf, checkBuckets, exportColumn, type CheckedEntry } from './snapshot-io.ts';
import { windowRange } from './window-range.ts';

export type Metric = (typeof METRIC_NAMES)[number];
/**
 * Which figures a read answers with: this node's own, or the whole cluster's
 * (this node's plus what the other nodes replicated to it). On a node without
 * clustering 'cluster' answers with local figures (spec §14 #17).
 */
export type Scope = 'local' | 'cluster';
export const METRICS: readonly Metric[] = METRIC_NAMES;

export const DEFAULT_MAX_TRACKED = 1_000_000;
/**
 * Scripts name monitors by string and unknown ones are created on first use
 * (spec §14 #5); the limit keeps a script that builds monitor strings in a
 * loop from creating buckets without end.
 */
export const MAX_MONITORS = 64;

export interface AuditStoreOptions {
  clock: Clock;
  logger: Logger;
  /** e.g. ["300,6", "1800,4"]; grammar per spec §2.2. Duplicates collapse, first position wins. */
  monitors: readonly string[];
  /**
   * Cap on tracked addresses: host entries (an address in a window) over the
   * windows and metrics of a monitor set. The configured monitors form one set
   * and share rows; a lazily created monitor is a set of its own.
   */
  maxTrackedPerMonitor?: number;
  /** Cap on tracked keys per named series. */
  maxTrackedPerSeries?: number;
  /** Unknown monitor → MW_ERR_UNKNOWN_MONITOR instead of lazy creation. */
  strictMonitors?: boolean;
}

export interface AuditStats {
  /** Host entries summed over monitor sets, windows and metrics: the unit the cap bounds. */
  trackedAddresses: number;
  /** Events counted only at block level because a cap was reached (monitors and series). */
  degradedEvents: number;
  monitors: number;
  series: number;
}

/**
 * The inbound audit store (spec §2–8): built-in metrics per monitor, session
 * gauges and named series, all on the injected clock. Time is whole seconds,
 * floor(clock.now() / 1000), as Momentum's scheduler sees it.
 */
export class AuditStore {
  readonly gauges: SessionGauges;
  readonly series: SeriesRegistry;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly cap: number;
  private readonly strict: boolean;
  private readonly byName = new Map<string, Monitor>();
  private readonly list: Monitor[] = [];
  private readonly sets: MonitorSet[] = [];
  private readonly nextSeed = seedSequence();
  /** The set of the configured monitors: the one that replicates. */
  private configured: MonitorSet | null = null;
  private cl: ClusterState | null = null;
  private clMetrics = false;

  constructor(opts: AuditStoreOptions) {
    this.clock = opts.clock;
    this.logger = opts.logger;
    this.cap = checkCap(opts.maxTrackedPerMonitor, 'maxTrackedPerMonitor', (m) => new BadMonitorError(m));
    this.strict = opts.strictMonitors === true;
    if (!Array.isArray(opts.monitors)) throw new BadMonitorError('monitors must be a list of "W,N" strings');
    const specs: MonitorSpec[] = [];
    for (const text of opts.monitors) {
      const spec = parseMonitor(text);
      if (specs.some((s) => s.canonical === spec.canonical)) {
        this.logger.debug({ monitor: spec.canonical }, 'duplicate audit monitor ignored (first position wins)');
        continue;
      }
      specs.push(spec);
    }
    if (specs.length > 0) this.configured = this.addSet(specs)[0]!.set;
    this.gauges = new SessionGauges({ logger: opts.logger, nextSeed: this.nextSeed });
    this.series = new SeriesRegistry({
      clock: opts.clock,
      logger: opts.logger,
      maxTrackedPerSeries: checkCap(opts.maxTrackedPerSeries, 'maxTrackedPerSeries', (m) => new BadSeriesError(m)),
      nextSeed: this.nextSeed,
    });
  }

  /** Canonical "W,N" names: configured order, then lazily created ones. */
  monitors(): readonly string[] {
    return this.list.map((m) => m.spec.canonical);
  }

  /** Counts one event into every monitor. The address is already parsed: no strings here. */
  record(metric: Metric, addr: IpAddress): void {
    const mi = metricIndex(metric);
    if (addr.family !== 4 && addr.family !== 6) checkAddress(addr);
    const sec = this.nowSec();
    const sets = this.sets;
    for (let i = 0; i < sets.length; i++) sets[i]!.record(mi, addr, sec);
    if (this.clMetrics) this.cl!.outbox.counter(mi, addr, sec);
  }

  /**
   * Makes this store a cluster member: its changes go to an outbox, reads with
   * scope 'cluster' add what the other nodes sent. Only the configured monitors
   * replicate (a monitor created lazily has no common epoch with the peers).
   */
  enableCluster(opts: { families?: ClusterFamilies; outboxBound?: number } = {}): ClusterState {
    if (this.cl !== null) return this.cl;
    const cl = new ClusterState({
      specs: this.configured?.specs ?? [],
      cap: this.cap,
      seriesCap: this.series.cap,
      nowSec: this.nowSec(),
      nextSeed: this.nextSeed,
      clockSec: () => this.nowSec(),
      ...(opts.families === undefined ? {} : { families: opts.families }),
      ...(opts.outboxBound === undefined ? {} : { outboxBound: opts.outboxBound }),
    });
    this.cl = cl;
    this.clMetrics = cl.families.metrics && this.configured !== null;
    this.gauges.attachCluster(cl.families.inboundCidr ? cl : null);
    this.series.attachCluster(cl.families.series ? cl : null);
    return cl;
  }

  /** The cluster state, or null on a single node. */
  get cluster(): ClusterState | null {
    return this.cl;
  }

  /** A configured monitor's column in the cluster copies, or -1 (not clustered, not configured, metrics not replicated). */
  private clusterCol(m: Monitor, scope: Scope): number {
    return scope === 'cluster' && this.clMetrics && m.set === this.configured ? m.col : -1;
  }

  /** Plain sum over windows startv..endv (spec §4.3); NaN bounds → MW_ERR_BAD_COUNT. */
  count(metric: Metric, monitor: string, cidr: Cidr, startv = 0, endv = 0, scope: Scope = 'local'): number {
    const mi = metricIndex(metric);
    const m = this.monitorFor(monitor);
    const c = checkCidr(cidr);
    const [s, e] = windowRange(startv, endv, m.spec.windows);
    const sec = this.nowSec();
    const n = m.set.groups[mi]!.count(m.col, c, s, e, sec);
    const col = this.clusterCol(m, scope);
    return col < 0 ? n : n + this.cl!.counters.count(mi, col, c, s, e, sec);
  }

  /** The weighted sliding value of spec §4.4: floor(C0 + (1 − f)·C1). */
  smoothed(metric: Metric, monitor: string, cidr: Cidr, scope: Scope = 'local'): number {
    const mi = metricIndex(metric);
    const m = this.monitorFor(monitor);
    const c = checkCidr(cidr);
    const sec = this.nowSec();
    const g = m.set.groups[mi]!;
    const col = this.clusterCol(m, scope);
    if (col < 0) return g.smoothed(m.col, c, sec);
    const [r0, r1] = this.cl!.counters.smoothedParts(mi, col, c, sec);
    const c0 = g.count(m.col, c, 0, 0, sec) + r0;
    const c1 = g.count(m.col, c, 1, 1, sec) + r1;
    const f = Math.min(Math.max((sec - g.windowStart(m.col, sec)) / m.spec.width, 0), 1 - Number.EPSILON);
    return Math.floor(c0 + (1 - f) * c1);
  }

  /** Counts of windows 0..N−1, as console `show ip` prints them. */
  windows(metric: Metric, monitor: string, cidr: Cidr, scope: Scope = 'local'): number[] {
    const mi = metricIndex(metric);
    const m = this.monitorFor(monitor);
    const c = checkCidr(cidr);
    const sec = this.nowSec();
    const local = m.set.groups[mi]!.windowCounts(m.col, c, sec);
    const col = this.clusterCol(m, scope);
    if (col < 0) return local;
    const remote = this.cl!.counters.windowCounts(mi, col, c, sec);
    return local.map((n, k) => n + (remote[k] ?? 0));
  }

  /** Whether reads with scope 'cluster' add other nodes' figures for this monitor. */
  isClusterWide(monitor: string): boolean {
    return this.clusterCol(this.monitorFor(monitor), 'cluster') >= 0;
  }

  /**
   * Per-address counts of one window (console `show all`): window 0..N−1,
   * anything else → MW_ERR_BAD_MONITOR. Events folded at the cap are not listed.
   */
  hostCounts(metric: Metric, monitor: string, window: number): Array<[IpAddress, number]> {
    const mi = metricIndex(metric);
    const m = this.monitorFor(monitor);
    if (!Number.isInteger(window) || window < 0 || window >= m.spec.windows) {
      throw new BadMonitorError(`window ${window} does not exist in monitor "${m.spec.canonical}" (windows 0 to ${m.spec.windows - 1})`);
    }
    return m.set.groups[mi]!.hostCounts(m.col, window, this.nowSec());
  }

  /** A monitor's visible windows of every metric as plain data (persistence). */
  monitorSnapshot(monitor: string): MonitorSnapshot {
    const m = this.monitorFor(monitor);
    const sec = this.nowSec();
    const [connections, receptions, rejections] = m.set.groups.map((g) => exportColumn(g, m.col, m.spec.width, m.spec.windows, sec));
    return { monitor: m.spec.canonical, connections: connections!, receptions: receptions!, rejections: rejections! };
  }

  /**
   * Replaces a configured monitor's windows with saved ones, placed by their
   * start so downtime ages them. Everything is checked before anything changes;
   * an unknown monitor is MW_ERR_UNKNOWN_MONITOR. Returns the per-address
   * entries now held.
   */
  restoreMonitor(snap: MonitorSnapshot): number {
    if (snap === null || typeof snap !== 'object') throw new BadMonitorError('a monitor snapshot must be an object');
    const spec = parseMonitor(snap.monitor);
    const m = this.byName.get(spec.canonical);
    if (m === undefined) throw new UnknownMonitorError(`cannot restore monitor "${spec.canonical}": it is not configured`);
    const fail = (msg: string) => new BadMonitorError(`cannot restore monitor "${spec.canonical}": ${msg}`);
    const checked: CheckedEntry<IpAddress>[][] = METRIC_NAMES.map((metric) =>
      checkBuckets(snap[metric] as SnapshotBucket[] | undefined, spec.width, parseAddress, fail, true),
    );
    const sec = this.nowSec();
    let kept = 0;
    checked.forEach((entries, mi) => {
      const g = m.set.groups[mi]!;
      g.clearColumn(m.col);
      const start0 = g.windowStart(m.col, sec);
      for (const e of entries) {
        const age = ageOf(e.start, start0, spec.width, spec.windows);
        if (age >= 0 && g.load(m.col, age, e.key, e.count)) kept++;
      }
    });
    return kept;
  }

  stats(): AuditStats {
    let tracked = 0;
    let degraded = 0;
    for (const set of this.sets) {
      tracked += set.budget.trackedHosts;
      degraded += set.budget.degraded;
    }
    return {
      trackedAddresses: tracked,
      degradedEvents: degraded + this.series.degradedEvents,
      monitors: this.list.length,
      series: this.series.size,
    };
  }

  /**
   * Tracked addresses and degraded events per monitor set, for metrics: the
   * configured monitors share one set (one cap); each monitor created lazily
   * has its own. `monitors` names the set's monitors, space-separated.
   */
  monitorSetStats(): { monitors: string; trackedAddresses: number; degradedEvents: number }[] {
    return this.sets.map((set) => ({
      monitors: set.specs.map((spec) => spec.canonical).join(' '),
      trackedAddresses: set.budget.trackedHosts,
      degradedEvents: set.budget.degraded,
    }));
  }

  /** Housekeeping (run every maintenance_interval): frees windows that aged out everywhere. */
  maintain(): void {
    const sec = this.nowSec();
    for (const set of this.sets) set.maintain(sec);
    this.cl?.maintain(sec);
    this.series.maintain(sec);
    this.gauges.compact();
  }

  private monitorFor(name: string): Monitor {
    const hit = this.byName.get(name);
    if (hit !== undefined) return hit;
    const spec = parseMonitor(name);
    const canonical = this.byName.get(spec.canonical);
    if (canonical !== undefined) return canonical;
    if (this.strict) {
      throw new UnknownMonitorError(`monitor "${spec.canonical}" is not configured (configured: ${this.monitors().join(' ') || 'none'})`);
    }
    if (this.list.length >= MAX_MONITORS) {
      throw new UnknownMonitorError(`monitor "${spec.canonical}" is not configured and ${MAX_MONITORS} monitors already exist; add it to the monitors list`);
    }
    const m = this.addSet([spec])[0]!;
    this.logger.warn(
      { monitor: spec.canonical },
      'audit monitor is not configured: created it now, so its counts start from this moment (add it to inbound_audit monitors)',
    );
    return m;
  }

  private addSet(specs: readonly MonitorSpec[]): Monitor[] {
    const set = new MonitorSet(specs, this.cap, this.nowSec(), this.nextSeed, this.logger);
    this.sets.push(set);
    return specs.map((spec, col) => {
      const m: Monitor = { spec, set, col };
      this.byName.set(spec.canonical, m);
      this.list.push(m);
      return m;
    });
  }

  private nowSec(): number {
    return Math.floor(this.clock.now() / 1000);
  }
}

function metricIndex(metric: Metric): number {
  switch (metric) {
    case 'connections':
      return 0;
    case 'receptions':
      return 1;
    case 'rejections':
      return 2;
    default:
      throw new BadMetricError(metric);
  }
}

function checkCap(v: number | undefined, name: string, fail: (message: string) => Error): number {
  if (v === undefined) return DEFAULT_MAX_TRACKED;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw fail(`${name} must be a positive whole number, got ${String(v)}`);
  }
  return v;
}
