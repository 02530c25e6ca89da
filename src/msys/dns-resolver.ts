import { Resolver } from 'node:dns/promises';
import type { Clock } from '../clock.ts';
import type { DnsAnswer, DnsQuery, DnsRecord, DnsResolverLike } from './compat-services.ts';

/** The `dns:` block of the config (docs/compat.md). */
export interface DnsOptions {
  /** Resolver addresses ("127.0.0.1" or "127.0.0.1:5353"); empty = the system's. */
  readonly servers?: readonly string[];
  /** Per-try timeout. */
  readonly timeoutMs?: number;
  readonly tries?: number;
  /** Entries kept in the answer cache (0 turns it off). */
  readonly cacheSize?: number;
  /** How long an answer (or NXDOMAIN) is reused. */
  readonly cacheTtlMs?: number;
}

export const DNS_DEFAULTS = Object.freeze({ timeoutMs: 2000, tries: 2, cacheSize: 1000, cacheTtlMs: 60_000 });

interface CacheEntry {
  readonly answer: DnsAnswer;
  readonly expires: number;
}

/**
 * msys.dnsLookup in `moonwatch serve`: node's c-ares resolver with configured
 * servers and timeout, and a small LRU cache of answers (Map insertion order).
 * Failures map to the codes scripts test: NXDOMAIN, SERVFAIL, TIMEOUT; a name
 * without records of the type is an empty answer, not an error.
 */
export class NodeDnsResolver implements DnsResolverLike {
  private readonly resolvers = new Map<string, Resolver>();
  private readonly cache = new Map<string, CacheEntry>();
  private readonly opts: Required<Omit<DnsOptions, 'servers'>> & { servers: readonly string[] };

  constructor(
    opts: DnsOptions,
    private readonly clock: Clock,
  ) {
    this.opts = { ...DNS_DEFAULTS, servers: [], ...opts } as typeof this.opts;
  }

  async lookup(q: DnsQuery): Promise<DnsAnswer> {
    const name = q.name.replace(/\.$/, '').toLowerCase();
    const key = `${q.type} ${name} ${q.server ?? ''}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      this.cache.delete(key);
      if (hit.expires > this.clock.now()) {
        this.cache.set(key, hit);
        return hit.answer;
      }
    }
    const answer = await this.query(name, q);
    // TIMEOUT and SERVFAIL are not cached: the next try may well succeed.
    if (this.opts.cacheSize > 0 && !('error' in answer && answer.error !== 'NXDOMAIN')) {
      if (this.cache.size >= this.opts.cacheSize) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, { answer, expires: this.clock.now() + this.opts.cacheTtlMs });
    }
    return answer;
  }

  private resolver(server: string | undefined): Resolver {
    const key = server ?? '';
    let r = this.resolvers.get(key);
    if (r === undefined) {
      r = new Resolver({ timeout: this.opts.timeoutMs, tries: this.opts.tries });
      const servers = server !== undefined ? [server] : this.opts.servers;
      if (servers.length > 0) r.setServers([...servers]);
      this.resolvers.set(key, r);
    }
    return r;
  }

  private async query(name: string, q: DnsQuery): Promise<DnsAnswer> {
    const r = this.resolver(q.server);
    try {
      let records: DnsRecord[];
      switch (q.type) {
        case 'A':
          records = (await r.resolve4(name)).map((value) => ({ value }));
          break;
        case 'AAAA':
          records = (await r.resolve6(name)).map((value) => ({ value }));
          break;
        case 'TXT':
          records = (await r.resolveTxt(name)).map((chunks) => ({ value: chunks.join('') }));
          break;
        case 'MX':
          records = (await r.resolveMx(name)).map((m) => ({ value: m.exchange, pref: m.priority }));
          break;
        case 'PTR':
          records = (await r.resolvePtr(name)).map((value) => ({ value }));
          break;
        case 'NS':
          records = (await r.resolveNs(name)).map((value) => ({ value }));
          break;
      }
      return { records };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTFOUND') return { error: 'NXDOMAIN' };
      if (code === 'ENODATA') return { records: [] };
      if (code === 'ETIMEOUT') return { error: 'TIMEOUT' };
      return { error: 'SERVFAIL' };
    }
  }
}

/**
 * Fixture DNS: answers from the fixture's `dns:` map ("name TYPE" → list of
 * values, or NXDOMAIN / SERVFAIL / TIMEOUT). A name the fixture does not list
 * is NXDOMAIN. Answers are immediate: fixture time never depends on the network.
 */
export class FixtureDnsResolver implements DnsResolverLike {
  private readonly answers = new Map<string, DnsAnswer>();

  constructor(entries: Record<string, DnsAnswer>) {
    for (const [key, answer] of Object.entries(entries)) this.answers.set(FixtureDnsResolver.key(key), answer);
  }

  /** "Mail.Example.TEST. a" → "mail.example.test A". */
  static key(text: string): string {
    const [name = '', type = 'A'] = text.trim().split(/\s+/);
    return `${name.replace(/\.$/, '').toLowerCase()} ${type.toUpperCase()}`;
  }

  lookup(q: DnsQuery): Promise<DnsAnswer> {
    return Promise.resolve(this.answers.get(FixtureDnsResolver.key(`${q.name} ${q.type}`)) ?? { error: 'NXDOMAIN' });
  }
}
