import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import { hostCidr, parseAddress, type Cidr, type IpAddress } from './address.ts';
import { checkAddress, checkCidr, isCidr } from './cidr-arg.ts';
import { CounterGroup } from './counter-group.ts';
import type { ClusterState } from './cluster-state.ts';
import { formatAddress } from './address.ts';
import { BadSeriesError, UnknownSeriesError } from './errors.ts';
import { checkShape } from './monitor-spec.ts';
import {
  checkCount,
  checkName,
  checkOptions,
  checkStringKey,
  checkType,
  MAX_SERIES,
  type SeriesOptions,
  type SeriesType,
} from './series-args.ts';
import type { SeriesSnapshot, SnapshotBucket } from './series-snapshot.ts';
import { ageOf, checkBuckets, exportColumn } from './snapshot-io.ts';
import { entriesSliced, exportColumnSliced } from './snapshot-slices.ts';
import { StringSeries } from './string-series.ts';
import { TrackBudget } from './track-budget.ts';
import { windowRange } from './window-range.ts';

export type { Replicate, SeriesOptions, SeriesType } from './series-args.ts';

export interface SeriesInfo {
  name: string;
  type: SeriesType;
  interval: number;
  windows: number;
  options: Required<SeriesOptions>;
  /** Tracked (key, window) entries: the unit maxTrackedPerSeries bounds. */
  keys: number;
}

export interface SeriesRegistryOptions {
  clock: Clock;
  logger: Logger;
  maxTrackedPerSeries: number;
  nextSeed: () => number;
}

interface IpData {
  readonly kind: 'ip';
  readonly family: 4 | 6;
  readonly counter: CounterGroup;
  readonly budget: TrackBudget;
}

interface StringData {
  readonly kind: 'string';
  readonly strings: StringSeries;
}

interface Series {
  readonly name: string;
  readonly type: SeriesType;
  readonly interval: number;
  readonly windows: number;
  options: Required<SeriesOptions>;
  data: IpData | StringData;
  capWarned: boolean;
  seenDegraded: number;
}

/**
 * Named audit series (spec §8): policy-driven windowed counters keyed by IPv4
 * (`cidr`), IPv6 (`cidr_ipv6`) or string. `init` re-runs on every reload, so
 * define is idempotent for the same shape and rebuilds (with a warning) when
 * the shape changes. Options are validated and kept for persistence and
 * replication to act on.
 */
export class SeriesRegistry {
  private readonly clock: Clock;
  private readonly logger: Logger;
  /** Per-series cap on tracked keys (remote copies use the same). */
  readonly cap: number;
  private readonly nextSeed: () => number;
  private readonly byName = new Map<string, Series>();
  /** Degraded events of series since rebuilt, so the store's figure never goes down. */
  private retiredDegraded = 0;
  private readonly defineListeners: Array<(name: string) => void> = [];
  /** Set when clustered with audit_series replication. */
  private cl: ClusterState | null = null;

  constructor(opts: SeriesRegistryOptions) {
    this.clock = opts.clock;
    this.logger = opts.logger;
    this.cap = opts.maxTrackedPerSeries;
    this.nextSeed = opts.nextSeed;
  }

  define(name: string, type: SeriesType, interval: number, windows: number, options?: SeriesOptions): void {
    checkName(name);
    checkType(type);
    checkShape(interval, windows, `series "${name}"`, (m) => new BadSeriesError(m));
    const opts = checkOptions(options);
    const old = this.byName.get(name);
    if (old !== undefined && old.type === type && old.interval === interval && old.windows === windows) {
      if (!sameOptions(old.options, opts)) {
        old.options = opts;
        this.noteReplicate(name, opts);
        this.logger.info({ series: name, options: opts }, 'audit series options updated');
      }
      this.notifyDefined(name);
      return;
    }
    if (old === undefined && this.byName.size >= MAX_SERIES) {
      throw new BadSeriesError(`cannot define series "${name}": ${MAX_SERIES} series already exist`);
    }
    if (old !== undefined) {
      this.retiredDegraded += degradedOf(old);
      this.logger.warn(
        { series: name, from: shapeOf(old), to: { type, interval, windows } },
        'audit series redefined with a different shape: its data was discarded',
      );
    }
    this.byName.set(name, {
      name,
      type,
      interval,
      windows,
      options: opts,
      data: this.newData(type, interval, windows),
      capWarned: false,
      seenDegraded: 0,
    });
    this.noteReplicate(name, opts);
    this.notifyDefined(name);
  }

  /**
   * Calls fn(name) after every successful define (new, reshaped or repeated),
   * so persistence can restore a series once init has created it. Returns the
   * unsubscribe function. A listener's exception propagates to define's caller.
   */
  onDefine(fn: (name: string) => void): () => void {
    this.defineListeners.push(fn);
    return () => {
      const i = this.defineListeners.indexOf(fn);
      if (i >= 0) this.defineListeners.splice(i, 1);
    };
  }

  /** The series' visible windows as plain data: per-key counts, each window with its start. */
  snapshot(name: string): SeriesSnapshot {
    const s = this.get(name);
    const sec = this.nowSec();
    let buckets: SnapshotBucket[];
    if (s.data.kind === 'ip') {
      buckets = exportColumn(s.data.counter, 0, s.interval, s.windows, sec);
    } else {
      const strings = s.data.strings;
      const start0 = strings.windowStart(sec);
      buckets = [];
      for (let k = 0; k < s.windows; k++) {
        const m = strings.window(k);
        if (m !== null && m.size > 0) buckets.push({ start: start0 - k * s.interval, counts: [...m.entries()] });
      }
    }
    return { name: s.name, type: s.type, interval: s.interval, windows: s.windows, buckets };
  }

  /**
   * The same snapshot as snapshot(), built in steps: the generator yields
   * between steps of a few milliseconds and returns the snapshot. An IP
   * series' snapshot is the state when it started (it reads a copy); a string
   * series' is read from its live windows, so adds made meanwhile may be in it.
   * For checkpoints that must not stall sessions.
   */
  *snapshotSliced(name: string): Generator<void, SeriesSnapshot> {
    const s = this.get(name);
    const sec = this.nowSec();
    let buckets: SnapshotBucket[];
    if (s.data.kind === 'ip') {
      buckets = yield* exportColumnSliced(s.data.counter, s.interval, s.windows, sec);
    } else {
      const strings = s.data.strings;
      const start0 = strings.windowStart(sec);
      const windows: { start: number; map: ReadonlyMap<string, number> }[] = [];
      for (let k = 0; k < s.windows; k++) {
        const m = strings.window(k);
        if (m !== null && m.size > 0) windows.push({ start: start0 - k * s.interval, map: m });
      }
      buckets = yield* entriesSliced(windows);
    }
    return { name: s.name, type: s.type, interval: s.interval, windows: s.windows, buckets };
  }

  /**
   * Replaces the series' content with a snapshot (startup restore, console
   * load into `name`). Windows are placed by their start, so time spent down
   * ages them; windows older than the series keeps are dropped. Every entry is
   * checked before anything changes. Returns the per-key entries now held
   * (entries refused at the cap are counted as degraded, IP ones in their block).
   */
  restore(snap: SeriesSnapshot, name: string = snap?.name): number {
    const s = this.get(name);
    if (snap === null || typeof snap !== 'object' || snap.type !== s.type || snap.interval !== s.interval || snap.windows !== s.windows) {
      const got = snap === null || typeof snap !== 'object' ? 'not a snapshot' : `${String(snap.type)} ${String(snap.interval)},${String(snap.windows)}`;
      throw new BadSeriesError(`cannot load into series "${name}" (${s.type} ${s.interval},${s.windows}): the data is ${got}`);
    }
    const fail = (m: string) => new BadSeriesError(`cannot load into series "${name}": ${m}`);
    const sec = this.nowSec();
    if (s.data.kind === 'string') {
      const entries = checkBuckets(snap.buckets, s.interval, (k) => checkStringKey(k, name), fail, false);
      const strings = s.data.strings;
      strings.clear();
      const start0 = strings.windowStart(sec);
      let kept = 0;
      for (const e of entries) {
        const age = ageOf(e.start, start0, s.interval, s.windows);
        if (age >= 0 && strings.load(age, e.key, e.count)) kept++;
      }
      if (strings.degraded !== s.seenDegraded) this.noteCap(s);
      return kept;
    }
    const family = s.data.family;
    const entries = checkBuckets(
      snap.buckets,
      s.interval,
      (k) => {
        const a = parseAddress(k);
        if (a.family !== family) throw fail(`${k} is not an IPv${family} address`);
        return a;
      },
      fail,
      false,
    );
    const counter = s.data.counter;
    counter.clearColumn(0);
    const start0 = counter.windowStart(0, sec);
    let kept = 0;
    for (const e of entries) {
      const age = ageOf(e.start, start0, s.interval, s.windows);
      if (age >= 0 && counter.load(0, age, e.key, e.count)) kept++;
    }
    if (s.data.budget.degraded !== s.seenDegraded) this.noteCap(s);
    return kept;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The series' key type: what msys.audit_series needs per call, without building info(). */
  typeOf(name: string): SeriesType {
    return this.get(name).type;
  }

  info(name: string): SeriesInfo {
    const s = this.get(name);
    const keys = s.data.kind === 'ip' ? s.data.budget.trackedHosts : s.data.strings.entries;
    return { ...shapeOf(s), name: s.name, options: { ...s.options }, keys };
  }

  list(): SeriesInfo[] {
    return [...this.byName.keys()].map((n) => this.info(n));
  }

  get size(): number {
    return this.byName.size;
  }

  get degradedEvents(): number {
    let n = this.retiredDegraded;
    for (const s of this.byName.values()) n += degradedOf(s);
    return n;
  }

  /**
   * Adds count (default 1, truncated toward zero, may be negative) to the key
   * in window 0. An address of the other family is ignored (spec §14 #12).
   */
  add(name: string, key: IpAddress | string, count = 1): void {
    const s = this.get(name);
    const sec = this.nowSec();
    if (s.data.kind === 'string') {
      const k = checkStringKey(key, name);
      const n = checkCount(count);
      if (n !== 0 && !s.data.strings.add(k, n, sec)) this.noteCap(s);
      if (n !== 0 && this.cl !== null && s.options.replicate !== 'none') this.replicate(s, sec, k, n);
      return;
    }
    const addr = this.ipKey(s, s.data, key, 'add');
    const n = checkCount(count);
    if (addr === null || n === 0) return;
    s.data.counter.add(addr, n, sec);
    if (s.data.budget.degraded !== s.seenDegraded) this.noteCap(s);
    if (this.cl !== null && s.options.replicate !== 'none') this.replicate(s, sec, formatAddress(addr), n);
  }

  attachCluster(cl: ClusterState | null): void {
    this.cl = cl;
  }

  private replicate(s: Series, sec: number, key: string, n: number): void {
    const start = sec - (sec % s.interval);
    this.cl!.outbox.series({ name: s.name, ...shapeOf(s) }, s.options.replicate === 'manager', start, key, n);
  }

  /** Sum over windows startv..endv of a key (string series) or block (IP series). */
  count(name: string, key: Cidr | string, startv = 0, endv = 0): number {
    const s = this.get(name);
    if (s.data.kind === 'string') {
      const k = checkStringKey(key, name);
      const [a, b] = windowRange(startv, endv, s.windows);
      const sec = this.nowSec();
      const n = s.data.strings.count(k, a, b, sec);
      return this.clusterWide(s) ? n + this.cl!.series.count({ name: s.name, ...shapeOf(s) }, k, a, b, sec) : n;
    }
    if (typeof key === 'string') throw ipSeriesKeyError(s, 'count');
    const c = isCidr(key) ? checkCidr(key, 'key') : hostCidr(checkAddress(key, 'key'));
    const [a, b] = windowRange(startv, endv, s.windows);
    if (c.addr.family !== s.data.family) {
      this.wrongFamily(s, 'count');
      return 0;
    }
    const sec = this.nowSec();
    const n = s.data.counter.count(0, c, a, b, sec);
    return this.clusterWide(s) ? n + this.cl!.series.count({ name: s.name, ...shapeOf(s) }, c, a, b, sec) : n;
  }

  /** replicate = "cluster" series read every node's adds once clustered. */
  private clusterWide(s: Series): boolean {
    return this.cl !== null && s.options.replicate === 'cluster';
  }

  /** Deletes the key from every window of this node's copy (spec §14 #28). */
  removeItem(name: string, key: IpAddress | string): boolean {
    const s = this.get(name);
    if (s.data.kind === 'string') return s.data.strings.remove(checkStringKey(key, name), this.nowSec());
    const addr = this.ipKey(s, s.data, key, 'remove_item');
    if (addr === null) return false;
    return s.data.counter.remove(addr, this.nowSec());
  }

  maintain(sec: number): void {
    for (const s of this.byName.values()) {
      if (s.data.kind === 'string') {
        s.data.strings.maintain(sec);
        if (!s.data.strings.atCap) s.capWarned = false;
      } else {
        s.data.counter.maintain(sec);
        if (!s.data.budget.atCap) s.capWarned = false;
      }
    }
  }

  private get(name: string): Series {
    const s = this.byName.get(name);
    if (s === undefined) {
      if (typeof name !== 'string') checkName(name);
      throw new UnknownSeriesError(name.length > 80 ? `${name.slice(0, 80)}…` : name);
    }
    return s;
  }

  private newData(type: SeriesType, interval: number, windows: number): IpData | StringData {
    const sec = this.nowSec();
    if (type === 'string') return { kind: 'string', strings: new StringSeries(interval, windows, sec, this.cap) };
    const budget = new TrackBudget(this.cap);
    const counter = new CounterGroup([{ width: interval, windows }], sec, budget, this.nextSeed);
    return { kind: 'ip', family: type === 'cidr' ? 4 : 6, counter, budget };
  }

  private ipKey(s: Series, data: IpData, key: unknown, op: string): IpAddress | null {
    if (typeof key === 'string') throw ipSeriesKeyError(s, op);
    if (isCidr(key)) throw new BadSeriesError(`${op} on series "${s.name}" takes a single address, not a CIDR block`);
    const addr = checkAddress(key, 'key');
    if (addr.family !== data.family) {
      this.wrongFamily(s, op);
      return null;
    }
    return addr;
  }

  private wrongFamily(s: Series, op: string): void {
    this.logger.debug({ series: s.name, type: s.type, op }, 'address family does not match the series type: ignored');
  }

  private noteCap(s: Series): void {
    s.seenDegraded = degradedOf(s);
    if (s.capWarned) return;
    s.capWarned = true;
    this.logger.warn(
      { series: s.name, cap: this.cap, degradedEvents: s.seenDegraded },
      s.type === 'string'
        ? 'audit series reached its cap on tracked keys: events for new keys are not stored (counted as degraded)'
        : 'audit series reached its cap on tracked addresses: events of new addresses are counted in their /24 (IPv4) or /64 (IPv6) block only',
    );
  }

  private notifyDefined(name: string): void {
    for (const fn of [...this.defineListeners]) fn(name);
  }

  private noteReplicate(name: string, opts: Required<SeriesOptions>): void {
    if (opts.replicate === 'none' || this.cl !== null) return;
    // Momentum stops incrementing such a series on a single node (a documented
    // defect); applying locally keeps policies working (spec §14 #21).
    this.logger.warn({ series: name, replicate: opts.replicate }, 'series asks for replication but this node is not clustered: applying updates locally');
  }

  private nowSec(): number {
    return Math.floor(this.clock.now() / 1000);
  }
}

function ipSeriesKeyError(s: Series, op: string): BadSeriesError {
  const family = s.type === 'cidr' ? 'IPv4' : 'IPv6';
  return new BadSeriesError(`${op} on series "${s.name}" (type ${s.type}) needs an ${family} address key, got a string`);
}

function degradedOf(s: Series): number {
  return s.data.kind === 'ip' ? s.data.budget.degraded : s.data.strings.degraded;
}

function shapeOf(s: Series): { type: SeriesType; interval: number; windows: number } {
  return { type: s.type, interval: s.interval, windows: s.windows };
}

function sameOptions(a: Required<SeriesOptions>, b: Required<SeriesOptions>): boolean {
  return a.persist === b.persist && a.serialize === b.serialize && a.replicate === b.replicate;
}
