import { formatAddress } from '../audit/address.ts';
import type { ClusterState } from '../audit/cluster-state.ts';
import type { OutboxBatch } from '../audit/outbox.ts';
import { seriesId } from '../audit/remote-series.ts';
import type { AuditStore } from '../audit/store.ts';
import { METRICS } from '../audit/store.ts';
import type { Logger } from '../log.ts';
import { encodeBatch } from './codec.ts';
import type { IncarnationKeys } from './keys.ts';
import type { RedisLink } from './redis-link.ts';
import { FLUSH } from './scripts.ts';

export interface SenderOptions {
  link: RedisLink;
  keys: IncarnationKeys;
  state: ClusterState;
  store: AuditStore;
  logger: Logger;
  /** Monitors as "W:N,…" for the flush script. */
  monitorArg: string;
  graceSec: number;
  streamMaxLen: number;
  metaTtlMs: number;
  /** A manager node journals its own manager-series adds here too. */
  onOwnBatch?: (b: OutboxBatch) => void;
  now: () => number;
}

/**
 * Sends this node's outbox as numbered batches, one script call per batch.
 * A batch that failed is retried verbatim (same number) before anything new,
 * so a reply lost after Redis applied it never counts twice. When changes had
 * to be dropped, or Redis lost this node's data, the node's absolute state is
 * re-sent instead (a resync, marked in the stream so peers re-read it).
 */
export class Sender {
  private readonly o: SenderOptions;
  private seq = 0;
  private acked = 0;
  private inflight: { seq: number; payload: string; entries: number } | null = null;
  private resyncDue = false;
  sentBatches = 0;
  retries = 0;
  resyncs = 0;
  lastOkAt = 0;
  private droppingLogged = false;

  constructor(o: SenderOptions) {
    this.o = o;
  }

  /** Changes waiting: the outbox plus a batch waiting for its retry. */
  get buffered(): number {
    return this.o.state.outbox.pending + (this.inflight?.entries ?? 0);
  }

  get lastSeq(): number {
    return this.acked;
  }

  /** Redis no longer holds this incarnation's data: the next flush re-sends it all. */
  redisLostState(): void {
    if (this.acked === 0 || this.resyncDue) return;
    this.resyncDue = true;
    this.o.logger.warn({ seq: this.acked }, 'Redis no longer holds this node\'s replicated state (restarted empty?): re-sending the whole state');
  }

  /** One flush: a retry, a resync or the next batch (an empty one when probe). Never throws. */
  async flush(probe = false): Promise<void> {
    const outbox = this.o.state.outbox;
    if (outbox.overflowed && !this.droppingLogged) {
      this.droppingLogged = true;
      this.o.logger.warn(
        { bound: outbox.bound, dropped: outbox.dropped },
        'cluster outbox full: further changes are dropped and counted; this node re-sends its whole state once Redis takes writes',
      );
    }
    if (outbox.overflowed || this.resyncDue) {
      await this.resync();
      return;
    }
    if (this.inflight === null) {
      if (outbox.pending === 0 && !(probe && this.acked > 0)) return;
      const batch = outbox.drain();
      this.o.onOwnBatch?.(batch);
      this.inflight = { seq: ++this.seq, payload: encodeBatch(batch), entries: batch.entries };
    } else {
      this.retries++;
    }
    const b = this.inflight;
    try {
      const r = await this.call(b.seq, b.payload, false);
      if (r === 'lost') {
        this.redisLostState();
        await this.resync();
        return;
      }
      this.inflight = null;
      this.acked = b.seq;
      this.sentBatches++;
      this.lastOkAt = this.o.now();
    } catch {
      // Kept in inflight: retried as is at the next flush.
    }
  }

  /** Re-sends the absolute state from the local store; the outbox content is part of it. */
  private async resync(): Promise<void> {
    const outbox = this.o.state.outbox;
    // Snapshot and clear in one synchronous step: everything counted so far
    // is in the snapshot, everything after goes to the (now empty) outbox.
    // Manager-series adds have no absolute state to re-send: carry them over.
    const pending = outbox.drain();
    this.o.onOwnBatch?.(pending);
    const carried = [
      ...(this.inflight?.payload.split('\n').filter((l) => l.startsWith('m ')) ?? []),
      ...encodeBatch(pending).split('\n').filter((l) => l.startsWith('m ')),
    ];
    const payload = [this.absoluteState(), ...carried].filter((l) => l.length > 0).join('\n');
    outbox.overflowed = false;
    this.inflight = null;
    const seq = ++this.seq;
    try {
      const r = await this.call(seq, payload, true);
      if (r === 'lost') throw new Error('unreachable: a resync always applies');
      this.acked = seq;
      this.resyncDue = false;
      this.resyncs++;
      this.droppingLogged = false;
      this.lastOkAt = this.o.now();
      this.o.logger.info({ seq, dropped: outbox.dropped }, 'cluster: this node\'s whole state re-sent to Redis');
    } catch {
      // Nothing was applied (or it was, and the next resync replaces it): try again next flush.
      this.resyncDue = true;
    }
  }

  private async call(seq: number, payload: string, reset: boolean): Promise<'ok' | 'dup' | 'lost'> {
    const k = this.o.keys;
    const r = (await this.o.link.script(
      FLUSH,
      [k.seq, k.stream, k.gauges, k.keys],
      [
        String(seq),
        k.tag,
        this.o.monitorArg,
        String(this.o.graceSec),
        String(this.o.streamMaxLen),
        String(this.o.metaTtlMs),
        this.acked > 0 ? '1' : '0',
        reset ? '1' : '0',
        payload,
        String(this.o.now()),
      ],
    )) as unknown[];
    const code = Number(r?.[0]);
    if (code === -1) return 'lost';
    return Number(r?.[1]) === 1 ? 'ok' : 'dup';
  }

  private absoluteState(): string {
    const { store, state } = this.o;
    const lines: string[] = [];
    if (state.families.metrics) {
      for (const spec of state.counters.specs) {
        const snap = store.monitorSnapshot(spec.canonical);
        METRICS.forEach((metric, mi) => {
          for (const b of snap[metric]) for (const [addr, n] of b.counts) lines.push(`C ${mi} ${spec.width} ${b.start} ${addr} ${n}`);
        });
      }
    }
    if (state.families.inboundCidr) {
      for (const [addr, n] of store.gauges.hosts('SMTP')) lines.push(`g ${formatAddress(addr)} ${n}`);
    }
    if (state.families.series) {
      for (const info of store.series.list()) {
        if (info.options.replicate !== 'cluster') continue;
        const snap = store.series.snapshot(info.name);
        const sid = seriesId(snap);
        for (const b of snap.buckets) for (const [key, n] of b.counts) lines.push(`s ${sid} ${b.start} ${encodeURIComponent(String(key))} ${n}`);
      }
    }
    return lines.join('\n');
  }
}
