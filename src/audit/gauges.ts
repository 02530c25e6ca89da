import type { Logger } from '../log.ts';
import type { Cidr, IpAddress } from './address.ts';
import { checkAddress, checkCidr } from './cidr-arg.ts';
import { addressOfWords, type ClusterState } from './cluster-state.ts';
import { UnknownServiceError } from './errors.ts';
import { PrefixCounter } from './prefix-counter.ts';
import { unlimitedBudget } from './track-budget.ts';

/**
 * Live session counts per service (spec §6): a gauge, no history. A session is
 * counted from open (accept time, so a policy sees itself) until close.
 */
export const SERVICES: readonly string[] = ['SMTP', 'ECStream', 'Control', 'ECmmove2', 'ECCluster', 'inbound_cidr'];

/** Services a session can belong to; inbound_cidr is a cluster-wide view, not a service of its own. */
const OPENABLE: ReadonlySet<string> = new Set(['SMTP', 'ECStream', 'Control', 'ECmmove2', 'ECCluster']);
const CLUSTER_VIEW = 'inbound_cidr';
const MAX_LISTENER = 256;
/** Listener gauges kept while idle; past this, idle ones are forgotten when a new listener appears. */
const MAX_IDLE_LISTENERS = 64;
/** Names are warned about once each; past this many, a script inventing names is not allowed to grow the set. */
const MAX_WARNED = 64;

export interface GaugeHandle {
  /** Idempotent: the second close changes nothing. */
  close(): void;
}

interface ListenerGauge {
  readonly counter: PrefixCounter;
  open: number;
}

export interface SessionGaugesOptions {
  logger: Logger;
  nextSeed: () => number;
}

export class SessionGauges {
  private readonly logger: Logger;
  private readonly nextSeed: () => number;
  private readonly budget = unlimitedBudget();
  private readonly byService = new Map<string, PrefixCounter>();
  private readonly byListener = new Map<string, ListenerGauge>();
  private readonly warned = new Set<string>();
  /** The listener gauge the last open() used (forgotten with the idle ones). */
  private lastListener: { readonly service: string; readonly listener: string; readonly gauge: ListenerGauge } | undefined;
  private openCount = 0;
  /** Set when clustered with inbound_cidr replication: SMTP opens and closes go out, inbound_cidr reads add the peers'. */
  private cl: ClusterState | null = null;

  constructor(opts: SessionGaugesOptions) {
    this.logger = opts.logger;
    this.nextSeed = opts.nextSeed;
  }

  open(service: string, addr: IpAddress, listener?: string): GaugeHandle {
    if (typeof service !== 'string' || !OPENABLE.has(service)) {
      throw new UnknownServiceError(
        `cannot open a session for service ${JSON.stringify(String(service))}: expected one of ${[...OPENABLE].join(', ')}`,
      );
    }
    const peer = checkAddress(addr);
    if (listener !== undefined && (typeof listener !== 'string' || listener.length === 0 || listener.length > MAX_LISTENER)) {
      throw new UnknownServiceError(`listener must be a non-empty string of at most ${MAX_LISTENER} characters`);
    }
    let svc = this.byService.get(service);
    if (svc === undefined) {
      svc = new PrefixCounter(this.nextSeed());
      this.byService.set(service, svc);
    }
    svc.add(peer, 1, this.budget);
    if (this.cl !== null && service === 'SMTP') this.cl.outbox.gauge(peer, 1);
    let lg: ListenerGauge | undefined;
    if (listener !== undefined) {
      // Consecutive sessions almost always come in on the same listener: its
      // gauge is kept at hand, saving a key string and its hashing per session.
      const last = this.lastListener;
      lg = last !== undefined && last.service === service && last.listener === listener ? last.gauge : undefined;
    }
    if (listener !== undefined && lg === undefined) {
      const key = listenerKey(service, listener);
      lg = this.byListener.get(key);
      if (lg === undefined) {
        // Listeners that come and go (tests, reloads) must not accumulate, but
        // a listener that merely went idle keeps its (empty) counter: building
        // one per session on a quiet server cost more than the session's policy.
        if (this.byListener.size >= MAX_IDLE_LISTENERS) this.forgetIdleListeners();
        lg = { counter: new PrefixCounter(this.nextSeed()), open: 0 };
        this.byListener.set(key, lg);
      }
      this.lastListener = { service, listener, gauge: lg };
    }
    if (lg !== undefined) {
      lg.counter.add(peer, 1, this.budget);
      lg.open++;
    }
    this.openCount++;
    return new OpenGauge(this, svc, lg, peer);
  }

  /** OpenGauge.close(): takes one session off the counters it was added to. */
  release(svc: PrefixCounter, lg: ListenerGauge | undefined, peer: IpAddress): void {
    this.openCount--;
    svc.add(peer, -1, this.budget);
    if (this.cl !== null && svc === this.byService.get('SMTP')) this.cl.outbox.gauge(peer, -1);
    if (lg !== undefined) {
      lg.counter.add(peer, -1, this.budget);
      lg.open--;
    }
  }

  private forgetIdleListeners(): void {
    for (const [key, lg] of this.byListener) if (lg.open === 0) this.byListener.delete(key);
    this.lastListener = undefined;
  }

  /**
   * Sessions open from the block to the service; with a listener, only that
   * listener's. Unknown names read 0 with one warning each; inbound_cidr on a
   * single node reads the local SMTP figure (spec §6.1, §14 #17).
   */
  count(service: string, cidr: Cidr, listener?: string): number {
    const c = checkCidr(cidr);
    let name = service;
    if (name === CLUSTER_VIEW && this.cl !== null) {
      return (this.byService.get('SMTP')?.count(c) ?? 0) + this.cl.gauges.count(c);
    }
    if (name === CLUSTER_VIEW) {
      this.warnOnce(CLUSTER_VIEW, { service }, 'inbound_cidr asked on a node without clustering: answering with local SMTP sessions');
      name = 'SMTP';
    } else if (typeof name !== 'string' || !OPENABLE.has(name)) {
      this.warnOnce(`service:${String(name)}`, { service: String(name).slice(0, 64) }, `unknown service name: counting 0 (service names are case-sensitive: ${SERVICES.join(', ')})`);
      return 0;
    }
    if (listener !== undefined) return this.byListener.get(listenerKey(name, listener))?.counter.count(c) ?? 0;
    return this.byService.get(name)?.count(c) ?? 0;
  }

  attachCluster(cl: ClusterState | null): void {
    this.cl = cl;
  }

  /** This node's open sessions of a service per address (cluster resync, console views). */
  hosts(service: string): Array<[IpAddress, number]> {
    const out: Array<[IpAddress, number]> = [];
    const svc = this.byService.get(service);
    svc?.v4?.host.forEach((w, n) => {
      if (n !== 0) out.push([addressOfWords(4, w), n]);
    });
    svc?.v6?.host.forEach((w, n) => {
      if (n !== 0) out.push([addressOfWords(6, w), n]);
    });
    return out;
  }

  /** Listener-scoped gauges held, busy or idle. */
  get listenerGauges(): number {
    return this.byListener.size;
  }

  /** Sessions currently open, over all services. */
  get openSessions(): number {
    return this.openCount;
  }

  compact(): void {
    for (const c of this.byService.values()) c.compact();
  }

  private warnOnce(key: string, fields: Record<string, unknown>, msg: string): void {
    if (this.warned.has(key) || this.warned.size >= MAX_WARNED) return;
    this.warned.add(key);
    this.logger.warn(fields, msg);
  }
}

function listenerKey(service: string, listener: string): string {
  return `${service}\u0000${listener}`;
}

/** One open session's gauge (a class, not a closure: one is made per connection). */
class OpenGauge implements GaugeHandle {
  private closed = false;

  constructor(
    private readonly gauges: SessionGauges,
    private readonly svc: PrefixCounter,
    private readonly lg: ListenerGauge | undefined,
    private readonly peer: IpAddress,
  ) {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.gauges.release(this.svc, this.lg, this.peer);
  }
}
