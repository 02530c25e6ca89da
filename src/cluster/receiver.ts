import { parseAddress } from '../audit/address.ts';
import type { ClusterState } from '../audit/cluster-state.ts';
import { parseSeriesId, type SeriesIdentity } from '../audit/remote-series.ts';
import type { Logger } from '../log.ts';
import { decodeBatch } from './codec.ts';
import { incarnationKeys, parseDataKey } from './keys.ts';
import type { RedisLink } from './redis-link.ts';
import { SNAPSHOT } from './scripts.ts';

/** What this node knows of another incarnation. */
export interface Peer {
  readonly id: string;
  readonly stream: string;
  /** Last batch applied from its stream. */
  lastSeq: number;
  /**
   * Last batch whose manager-series adds were applied (-1: none read yet).
   * Those adds exist only in the stream, so a rebuild that moves lastSeq past
   * batches not yet read must not skip them: the stream is read from the
   * lower of the two.
   */
  managerSeq: number;
  /** Heartbeat within the lease: its open sessions count. */
  alive: boolean;
  /** Redis ms of its last heartbeat. */
  lastBeat: number;
  /** Redis ms at which it was judged gone (0 while alive). */
  goneAt: number;
  info: PeerInfo;
  batches: number;
  /** Sender clock → our clock, ms, of the last batch applied. */
  lagMs: number;
}

export interface PeerInfo {
  name?: string;
  role?: string;
  monitors?: string;
}

export interface ReceiverOptions {
  link: RedisLink;
  prefix: string;
  state: ClusterState;
  logger: Logger;
  nowMs: () => number;
  /** Manager nodes consume replicate = "manager" series here. */
  onManagerSeries?: (id: SeriesIdentity, key: string, delta: number) => void;
  /** Entries read per stream per poll. */
  readCount: number;
}

/**
 * Applies the other nodes' batches to the in-memory cluster state: tails
 * their streams (one XREAD for all on a single server, one per peer on Redis
 * Cluster, where streams live in different slots) and, on joining or when
 * the tail cannot be trusted (a gap, a trimmed stream, a peer's resync),
 * rebuilds the whole remote state from every incarnation's hashes and swaps
 * it in.
 */
export class Receiver {
  readonly peers = new Map<string, Peer>();
  private readonly o: ReceiverOptions;
  rebuildDue = true;
  rebuilds = 0;
  lastPollOkAt = 0;
  malformed = 0;

  constructor(o: ReceiverOptions) {
    this.o = o;
  }

  peer(id: string, info: PeerInfo, lastBeat: number): Peer {
    let p = this.peers.get(id);
    if (p === undefined) {
      p = { id, stream: incarnationKeys(this.o.prefix, id).stream, lastSeq: 0, managerSeq: -1, alive: true, lastBeat, goneAt: 0, info, batches: 0, lagMs: 0 };
      this.peers.set(id, p);
    }
    return p;
  }

  /** Reads new batches of the peers worth reading (alive, or gone recently: their last batch may still be coming). */
  async poll(readable: Peer[]): Promise<void> {
    if (readable.length === 0) {
      this.lastPollOkAt = this.o.nowMs();
      return;
    }
    const count = String(this.o.readCount);
    if (this.o.link.kind === 'single') {
      const args = ['XREAD', 'COUNT', count, 'STREAMS', ...readable.map((p) => p.stream), ...readable.map((p) => `${readFrom(p)}-1`)];
      this.take(await this.o.link.command(readable[0]!.stream, args));
    } else {
      for (const p of readable) {
        this.take(await this.o.link.command(p.stream, ['XREAD', 'COUNT', count, 'STREAMS', p.stream, `${readFrom(p)}-1`]));
        if (this.rebuildDue) break;
      }
    }
    this.lastPollOkAt = this.o.nowMs();
  }

  private take(reply: unknown): void {
    if (!Array.isArray(reply)) return;
    const byStream = new Map<string, Peer>();
    for (const p of this.peers.values()) byStream.set(p.stream, p);
    for (const item of reply) {
      if (!Array.isArray(item)) continue;
      const p = byStream.get(String(item[0]));
      if (p === undefined || !Array.isArray(item[1])) continue;
      for (const entry of item[1] as unknown[]) {
        if (!Array.isArray(entry)) continue;
        this.entry(p, String(entry[0]), Array.isArray(entry[1]) ? (entry[1] as unknown[]).map(String) : []);
      }
    }
  }

  private entry(p: Peer, id: string, fields: string[]): void {
    const seq = Number(id.split('-')[0]);
    const f = new Map<string, string>();
    for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i]!, fields[i + 1]!);
    const data = f.get('d') ?? '';
    // Manager-series adds exist nowhere else: each batch's are applied once, whatever happens to its counts.
    const managerNew = seq > (p.managerSeq >= 0 ? p.managerSeq : p.lastSeq);
    if (managerNew) p.managerSeq = seq;
    if (seq <= p.lastSeq || this.rebuildDue) {
      // Its counts are in the cluster state already, or about to be re-read with it.
      if (managerNew) this.apply(p, data, 'manager');
      return;
    }
    if (seq !== p.lastSeq + 1 || f.has('r')) {
      this.rebuildDue = true;
      if (managerNew) this.apply(p, data, 'manager');
      this.o.logger.info(
        { node: p.id, expected: p.lastSeq + 1, got: seq, reset: f.has('r') },
        f.has('r') ? 'cluster: a node re-sent its whole state: re-reading the cluster state' : 'cluster: batches missing from a node\'s stream: re-reading the cluster state',
      );
      return;
    }
    this.apply(p, data, managerNew ? 'all' : 'state');
    p.lastSeq = seq;
    p.batches++;
    const t = Number(f.get('t'));
    if (Number.isFinite(t)) p.lagMs = Math.max(0, this.o.nowMs() - t);
  }

  /** Applies a batch: its counts and gauges ('state'), its manager-series adds ('manager'), or both. */
  private apply(p: Peer, payload: string, part: 'all' | 'state' | 'manager'): void {
    const st = this.o.state;
    const sec = Math.floor(this.o.nowMs() / 1000);
    const state = part !== 'manager';
    const manager = part !== 'state';
    this.malformed += decodeBatch(payload, {
      counter: (mi, ts, addr, n) => {
        if (st.families.metrics && state) st.counters.apply(mi, ts, addr, n, sec);
      },
      gauge: (addr, n) => {
        if (st.families.inboundCidr && p.alive && state) st.gauges.apply(p.id, addr, n);
      },
      series: (id, isManager, start, key, n) => {
        if (isManager) {
          if (manager) this.o.onManagerSeries?.(id, key, n);
        } else if (st.families.series && state) st.series.apply(id, start, key, n, sec);
      },
    });
  }

  /**
   * Re-reads every known incarnation's absolute state, each atomically with
   * its sequence, into fresh copies, then swaps them in and tails each
   * stream from that sequence. A failure leaves the current state in place.
   */
  async rebuild(): Promise<void> {
    const st = this.o.state;
    const sec = Math.floor(this.o.nowMs() / 1000);
    const fresh = st.fresh(sec);
    const seqs = new Map<string, number>();
    const widths = st.counters.specs.map((s) => s.width);
    for (const p of this.peers.values()) {
      const k = incarnationKeys(this.o.prefix, p.id);
      const r = (await this.o.link.script(SNAPSHOT, [k.seq, k.keys, k.gauges], [])) as unknown[];
      if (!Array.isArray(r)) throw new Error('unexpected snapshot reply');
      seqs.set(p.id, Number(r[0]) || 0);
      if (p.alive && st.families.inboundCidr) {
        const g = pairs(r[1]).map(([a, n]) => [parseAddress(a), Number(n)] as const);
        for (const [addr, n] of g) fresh.gauges.apply(p.id, addr, n);
      }
      for (let i = 2; i + 1 < r.length; i += 2) {
        const key = String(r[i]);
        const dk = key.startsWith(k.tag) ? parseDataKey(key.slice(k.tag.length)) : null;
        if (dk === null) continue;
        const fields = pairs(r[i + 1]);
        if (dk.kind === 'c') {
          const col = widths.indexOf(dk.width);
          if (col < 0 || !st.families.metrics) continue;
          for (const [a, n] of fields) fresh.counters.load(dk.metric, col, dk.start, parseAddress(a), Number(n), sec);
        } else {
          const id = parseSeriesId(dk.sid);
          if (id === null || !st.families.series) continue;
          for (const [key2, n] of fields) fresh.series.apply(id, dk.start, decodeURIComponent(key2), Number(n), sec);
        }
      }
    }
    st.swap(fresh);
    for (const [id, seq] of seqs) {
      const p = this.peers.get(id)!;
      p.lastSeq = seq;
      // A peer first seen now: its manager-series adds count from here on.
      if (p.managerSeq < 0) p.managerSeq = seq;
    }
    this.rebuildDue = false;
    this.rebuilds++;
  }
}

/** Where a peer's stream is read from: the lower of its state and its manager-series position. */
function readFrom(p: Peer): number {
  return p.managerSeq >= 0 ? Math.min(p.lastSeq, p.managerSeq) : p.lastSeq;
}

function pairs(flat: unknown): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (!Array.isArray(flat)) return out;
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([String(flat[i]), String(flat[i + 1])]);
  return out;
}
