/**
 * One cluster member: heartbeats, replication out (Sender) and in (Receiver),
 * on timers, off the phase path. Policies read the store; nothing here is
 * ever awaited by a session. Redis trouble changes what this loop does
 * (retry, buffer, resync), never what a session sees.
 */
import type { ClusterState } from '../audit/cluster-state.ts';
import type { OutboxBatch } from '../audit/outbox.ts';
import type { AuditStore } from '../audit/store.ts';
import type { Clock } from '../clock.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import { incarnationId, incarnationKeys, membershipKeys } from './keys.ts';
import { ManagerJournal } from './manager-journal.ts';
import { Receiver, type Peer, type PeerInfo } from './receiver.ts';
import { openRedisLink, type RedisEndpoint, type RedisLink } from './redis-link.ts';
import { HEARTBEAT } from './scripts.ts';
import { Sender } from './sender.ts';

export interface ClusterSettings {
  readonly node: string;
  readonly endpoint: RedisEndpoint;
  readonly prefix: string;
  readonly maxDelayMs: number;
  readonly maxPending: number;
  readonly leaseMs: number;
  readonly heartbeatMs: number;
  readonly timeoutMs: number;
  readonly role: 'node' | 'manager';
  /** Manager journal (as_logger) pass interval, seconds. */
  readonly logIntervalSec: number;
}

export interface ClusterNodeOptions {
  settings: ClusterSettings;
  store: AuditStore;
  state: ClusterState;
  clock: Clock;
  logger: Logger;
  /** log_dir: where a manager journals replicate = "manager" series. */
  logDir: string;
  /** Tests may bring their own link. */
  link?: RedisLink;
}

export interface ClusterStatus {
  node: string;
  incarnation: string;
  role: string;
  redis: { kind: string; up: boolean; since: number; lastError?: string; commandsSent: number };
  joined: boolean;
  buffered: number;
  dropped: number;
  batchesSent: number;
  lastSeq: number;
  retries: number;
  resyncs: number;
  rebuilds: number;
  lastHeartbeat: number;
  peers: Array<{ incarnation: string; name: string; role: string; alive: boolean; lastHeartbeatAgeMs: number; lastSeq: number; batches: number; lagMs: number; openSessions: number }>;
  managerJournal?: { dir: string; received: number };
}

/** Segment length of the internal timer: flush, poll and heartbeat run on multiples of it. */
const STEP_DIVISOR = 4;
const STREAM_MAXLEN = 2000;
const GRACE_SEC = 60;
const META_TTL_MS = 86_400_000;
const PROBE_MS = 5000;

export class ClusterNode {
  readonly incarnation: string;
  readonly journal: ManagerJournal | null;
  private readonly o: ClusterNodeOptions;
  private readonly link: RedisLink;
  private readonly sender: Sender;
  private readonly receiver: Receiver;
  private readonly memberKeys;
  private timer: NodeJS.Timeout | undefined;
  private journalTimer: NodeJS.Timeout | undefined;
  private busy: Promise<void> | null = null;
  private stopped = false;
  private lastFlush = 0;
  private lastPoll = 0;
  private lastBeat = 0;
  private lastProbe = 0;
  private beatsOk = 0;
  private redisNow = 0;
  private upSince = 0;
  private lastError: string | undefined;
  private heardOnce = false;
  private joined = false;

  constructor(o: ClusterNodeOptions) {
    this.o = o;
    const s = o.settings;
    this.incarnation = incarnationId(s.node, o.clock.now());
    this.memberKeys = membershipKeys(s.prefix);
    this.upSince = o.clock.now();
    this.link =
      o.link ??
      openRedisLink({
        endpoint: s.endpoint,
        timeoutMs: s.timeoutMs,
        onState: (up, reason) => this.onLinkState(up, reason),
      });
    this.journal = s.role === 'manager' ? new ManagerJournal({ dir: o.logDir, clock: o.clock, logger: o.logger, periodSec: s.logIntervalSec }) : null;
    const monitorArg = o.state.counters.specs.map((x) => `${x.width}:${x.windows}`).join(',');
    this.sender = new Sender({
      link: this.link,
      keys: incarnationKeys(s.prefix, this.incarnation),
      state: o.state,
      store: o.store,
      logger: o.logger,
      monitorArg,
      graceSec: GRACE_SEC,
      streamMaxLen: STREAM_MAXLEN,
      metaTtlMs: META_TTL_MS,
      now: () => o.clock.now(),
      ...(this.journal === null ? {} : { onOwnBatch: (b) => this.journalOwn(b) }),
    });
    this.receiver = new Receiver({
      link: this.link,
      prefix: s.prefix,
      state: o.state,
      logger: o.logger,
      nowMs: () => o.clock.now(),
      readCount: 500,
      ...(this.journal === null ? {} : { onManagerSeries: (id, key, n) => this.journal!.add(id, key, n) }),
    });
  }

  /** Starts the loop; returns at once (Redis may well be down). */
  start(): void {
    const step = Math.max(10, Math.floor(this.o.settings.maxDelayMs / STEP_DIVISOR));
    this.timer = setInterval(() => this.tick(), step);
    this.timer.unref();
    if (this.journal !== null) {
      this.journalTimer = setInterval(() => this.journal!.pass(), this.o.settings.logIntervalSec * 1000);
      this.journalTimer.unref();
    }
    this.o.logger.info(
      { node: this.o.settings.node, incarnation: this.incarnation, redis: this.link.kind, role: this.o.settings.role, maxDelayMs: this.o.settings.maxDelayMs, leaseMs: this.o.settings.leaseMs },
      'cluster: joining',
    );
    this.tick();
  }

  /** Final flush, leave the membership (peers drop our sessions at once), close. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.journalTimer);
    await this.busy;
    if (this.link.up) {
      await this.sender.flush();
      await this.heartbeat(true).catch(() => undefined);
    }
    this.journal?.pass();
    await this.link.close();
  }

  status(): ClusterStatus {
    const s = this.o.settings;
    const totals = this.o.state.gauges.totals();
    const now = this.redisNow;
    return {
      node: s.node,
      incarnation: this.incarnation,
      role: s.role,
      redis: { kind: this.link.kind, up: this.link.up, since: this.upSince, ...(this.lastError === undefined ? {} : { lastError: this.lastError }), commandsSent: this.link.sent },
      joined: this.joined,
      buffered: this.sender.buffered,
      dropped: this.o.state.outbox.dropped,
      batchesSent: this.sender.sentBatches,
      lastSeq: this.sender.lastSeq,
      retries: this.sender.retries,
      resyncs: this.sender.resyncs,
      rebuilds: this.receiver.rebuilds,
      lastHeartbeat: this.lastBeat,
      peers: [...this.receiver.peers.values()].map((p) => ({
        incarnation: p.id,
        name: p.info.name ?? p.id,
        role: p.info.role ?? 'node',
        alive: p.alive,
        lastHeartbeatAgeMs: Math.max(0, now - p.lastBeat),
        lastSeq: p.lastSeq,
        batches: p.batches,
        lagMs: p.lagMs,
        openSessions: totals.get(p.id) ?? 0,
      })),
      ...(this.journal === null ? {} : { managerJournal: { dir: this.journal.dir, received: this.journal.received } }),
    };
  }

  /** The Redis commands this node has sent (budget checks, bench). */
  get commandsSent(): number {
    return this.link.sent;
  }

  private tick(): void {
    if (this.busy !== null || this.stopped) return;
    this.busy = this.round()
      .catch((err: unknown) => {
        this.lastError = errorMessage(err);
      })
      .finally(() => {
        this.busy = null;
      });
  }

  private async round(): Promise<void> {
    const s = this.o.settings;
    const now = this.o.clock.now();
    if (!this.link.up && this.heardOnce) {
      // Down: the client reconnects by itself; a hung server (no socket
      // error) is probed by one heartbeat per interval, nothing else is tried.
      if (now - this.lastProbe < s.heartbeatMs) return;
      this.lastProbe = now;
      await this.heartbeat(false);
    } else if (now - this.lastBeat >= s.heartbeatMs || !this.heardOnce) {
      await this.heartbeat(false);
      this.heardOnce = true;
    }
    if (this.receiver.rebuildDue) {
      const t0 = this.o.clock.now();
      await this.receiver.rebuild();
      this.o.logger.info({ nodes: this.receiver.peers.size, ms: this.o.clock.now() - t0, joined: this.joined }, this.joined ? 'cluster: state re-read from Redis' : 'cluster: joined, cluster state read from Redis');
      this.joined = true;
    }
    const sinceFlush = now - this.lastFlush;
    const early = this.o.state.outbox.pending >= s.maxPending && sinceFlush >= s.maxDelayMs / 2;
    if (sinceFlush >= s.maxDelayMs || early) {
      this.lastFlush = now;
      // An idle node still probes every few seconds with an empty batch: it
      // refreshes its keys' TTLs and finds out if Redis lost them.
      await this.sender.flush(now - this.sender.lastOkAt >= PROBE_MS);
    }
    // One XREAD covers every peer on a single server: poll twice per max_delay
    // there; on Redis Cluster each peer costs a read, so once.
    const pollEvery = this.link.kind === 'single' ? s.maxDelayMs / 2 : s.maxDelayMs;
    if (now - this.lastPoll >= pollEvery) {
      this.lastPoll = now;
      this.o.state.counters.settle(Math.floor(now / 1000));
      await this.receiver.poll(this.readablePeers());
    }
  }

  private readablePeers(): Peer[] {
    const out: Peer[] = [];
    const window = this.o.settings.leaseMs * 2;
    for (const p of this.receiver.peers.values()) if (p.alive || this.redisNow - p.goneAt < window) out.push(p);
    return out;
  }

  private async heartbeat(leaving: boolean): Promise<void> {
    const s = this.o.settings;
    const info = JSON.stringify({ name: s.node, role: s.role, monitors: this.o.state.counters.specs.map((x) => x.canonical).join(' ') });
    const r = (await this.link.script(
      HEARTBEAT,
      [this.memberKeys.members, this.memberKeys.nodes],
      [this.incarnation, leaving ? '1' : '0', String(s.leaseMs), String(META_TTL_MS), info],
    )) as unknown[];
    if (!Array.isArray(r)) return;
    this.lastBeat = this.o.clock.now();
    if (leaving) return;
    const now = Number(r[0]);
    this.redisNow = now;
    // Our membership vanished although we beat before: Redis lost its data
    // (restarted empty, or failed over to an empty replica). Re-send ours.
    if (r[1] === '0' && this.beatsOk > 0) this.sender.redisLostState();
    this.beatsOk++;
    const seen = new Set<string>();
    // Judge leases only after this node has itself been connected for one
    // lease: after an outage every peer's heartbeat is old until it beats again.
    const judge = this.o.clock.now() - this.upSince >= s.leaseMs;
    for (let i = 2; i + 2 < r.length; i += 3) {
      const id = String(r[i]);
      if (id === this.incarnation) continue;
      seen.add(id);
      const beat = Number(r[i + 1]);
      let info: PeerInfo = {};
      try {
        info = JSON.parse(String(r[i + 2] ?? '{}')) as PeerInfo;
      } catch {
        info = {};
      }
      const known = this.receiver.peers.has(id);
      const p = this.receiver.peer(id, info, beat);
      p.lastBeat = beat;
      const alive = now - beat <= s.leaseMs;
      if (!known) {
        p.alive = alive;
        if (!alive) p.goneAt = beat + s.leaseMs;
        if (this.joined && alive) this.o.logger.info({ node: id }, 'cluster: a node joined');
        continue;
      }
      if (p.alive && !alive && judge) this.gone(p, now, `no heartbeat for ${now - beat} ms`);
      else if (!p.alive && alive) {
        p.alive = true;
        p.goneAt = 0;
        this.receiver.rebuildDue = true;
        this.o.logger.info({ node: id }, 'cluster: a node is heartbeating again: re-reading its state');
      }
    }
    for (const p of this.receiver.peers.values()) {
      if (!seen.has(p.id) && p.alive && judge) this.gone(p, now, 'no longer a member');
    }
    if (judge && this.o.state.families.inboundCidr) {
      // Defensive: a gauge table for a peer that is not alive must not count.
      for (const origin of this.o.state.gauges.originNames()) {
        const p = this.receiver.peers.get(origin);
        if (p === undefined || !p.alive) this.o.state.gauges.drop(origin);
      }
    }
  }

  private gone(p: Peer, now: number, why: string): void {
    p.alive = false;
    p.goneAt = now;
    const n = this.o.state.gauges.drop(p.id);
    this.o.logger.warn({ node: p.id, why, openSessionsDropped: n }, 'cluster: a node left: its open sessions no longer count (its past counts stay)');
  }

  private onLinkState(up: boolean, reason?: string): void {
    if (this.stopped) return;
    if (up) {
      this.upSince = this.o.clock.now();
      this.lastError = undefined;
      this.o.logger.info({ redis: this.link.kind }, 'cluster: Redis reachable: replicating');
    } else {
      this.upSince = this.o.clock.now();
      this.lastError = reason;
      this.o.logger.warn(
        { reason, buffered: this.sender?.buffered },
        'cluster: Redis unreachable: policies answer from local and last known cluster state; changes are buffered',
      );
    }
  }

  /** A manager journals its own manager-series adds too: they never come back to it through Redis. */
  private journalOwn(b: OutboxBatch): void {
    for (const p of b.series) {
      if (!p.manager) continue;
      for (const keys of p.windows.values()) for (const [k, n] of keys) this.journal!.add(p.id, k, n);
    }
  }
}
