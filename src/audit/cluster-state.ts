import { ipv4, ipv6, type IpAddress } from './address.ts';
import type { MonitorSpec } from './monitor-spec.ts';
import { DEFAULT_OUTBOX_BOUND, Outbox } from './outbox.ts';
import { RemoteCounters } from './remote-counters.ts';
import { RemoteGauges } from './remote-gauges.ts';
import { RemoteSeries, type SeriesIdentity } from './remote-series.ts';

/** Which families a node replicates and reads cluster-wide (spec §12.1 parameters). */
export interface ClusterFamilies {
  /** connect;reception;rejection: the built-in metrics. */
  readonly metrics: boolean;
  /** The live session tree read by the inbound_cidr service. */
  readonly inboundCidr: boolean;
  /** audit_series: series defined with replicate = "cluster" or "manager". */
  readonly series: boolean;
}

export const ALL_FAMILIES: ClusterFamilies = Object.freeze({ metrics: true, inboundCidr: true, series: true });

export interface ClusterStateOptions {
  specs: readonly MonitorSpec[];
  cap: number;
  seriesCap: number;
  nowSec: number;
  nextSeed: () => number;
  /** The store's clock, whole seconds. */
  clockSec: () => number;
  families?: ClusterFamilies;
  outboxBound?: number;
}

/**
 * Everything the store keeps for clustering, in memory and free of I/O: the
 * outbox of this node's changes and the merged copies of what the other nodes
 * sent. Replication (src/cluster/) and fixture seeding both write the remote
 * copies through this one object, so what a fixture seeds is exactly what a
 * replicated peer would have produced.
 */
export class ClusterState {
  readonly families: ClusterFamilies;
  readonly outbox: Outbox;
  counters: RemoteCounters;
  gauges: RemoteGauges;
  series: RemoteSeries;
  private readonly opts: ClusterStateOptions;

  constructor(opts: ClusterStateOptions) {
    this.opts = opts;
    this.families = opts.families ?? ALL_FAMILIES;
    this.counters = new RemoteCounters(opts.specs, opts.cap, opts.nowSec, opts.nextSeed);
    this.outbox = new Outbox(this.counters.slotWidth, opts.outboxBound ?? DEFAULT_OUTBOX_BOUND);
    this.gauges = new RemoteGauges(opts.nextSeed);
    this.series = new RemoteSeries(opts.seriesCap, opts.nextSeed);
  }

  /** Fresh, empty remote copies (a rebuild fills them, then swaps them in). */
  fresh(nowSec: number): { counters: RemoteCounters; gauges: RemoteGauges; series: RemoteSeries } {
    return {
      counters: new RemoteCounters(this.opts.specs, this.opts.cap, nowSec, this.opts.nextSeed),
      gauges: new RemoteGauges(this.opts.nextSeed),
      series: new RemoteSeries(this.opts.seriesCap, this.opts.nextSeed),
    };
  }

  swap(next: { counters: RemoteCounters; gauges: RemoteGauges; series: RemoteSeries }): void {
    this.counters = next.counters;
    this.gauges = next.gauges;
    this.series = next.series;
  }

  maintain(sec: number): void {
    this.counters.maintain(sec);
    this.series.maintain(sec);
  }

  /** One built-in metric event counted now on another node (fixture seeding: the path replication takes). */
  seedCounter(mi: number, addr: IpAddress, n = 1): void {
    const sec = this.opts.clockSec();
    this.counters.apply(mi, sec - (sec % this.counters.slotWidth), addr, n, sec);
  }

  /** Sessions open now on another node (`origin` names it). */
  seedSessions(origin: string, addr: IpAddress, n: number): void {
    this.gauges.apply(origin, addr, n);
  }

  /** An add to a replicate = "cluster" series, made now on another node. */
  seedSeries(id: SeriesIdentity, key: string, n: number): void {
    const sec = this.opts.clockSec();
    this.series.apply(id, sec - (sec % id.interval), key, n, sec);
  }
}

/** Address words from a PrefixCounter host table entry. */
export function addressOfWords(family: 4 | 6, w: readonly number[]): IpAddress {
  return family === 4 ? ipv4(w[0]!) : ipv6(w[0]!, w[1]!, w[2]!, w[3]!);
}
