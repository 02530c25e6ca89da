import type { Clock } from '../clock.ts';
import { DEFAULT_PHASE_TIMEOUT_MS, timerSleep, type CompatServices, type InjectedMessage } from '../msys/compat-services.ts';
import { DNS_DEFAULTS, NodeDnsResolver, type DnsOptions } from '../msys/dns-resolver.ts';
import type { ConfigNode } from './reader.ts';

/** The `compat:` block (docs/compat.md): the Momentum compatibility packages' outside services. */
export interface CompatConfig {
  /** Wall-clock limit of one phase, waits on DNS/sleep/runInPool included. */
  readonly phaseTimeoutMs: number;
  readonly dns: Required<DnsOptions>;
}

export function readCompat(node: ConfigNode): { compat?: CompatConfig } {
  if (node.isNull) return {};
  const m = node.map(['phase_timeout_ms', 'dns']);
  const d = m.get('dns').map(['servers', 'timeout_ms', 'tries', 'cache_size', 'cache_ttl_ms']);
  const servers = d.opt('servers', [] as string[], (n) =>
    n.stringList().map(({ value, node: item }) => {
      // node:dns takes "1.2.3.4", "1.2.3.4:53", "::1" or "[::1]:53".
      if (!/^(\d{1,3}(\.\d{1,3}){3}(:\d+)?|[0-9a-fA-F:]+|\[[0-9a-fA-F:]+\]:\d+)$/.test(value)) item.fail(`"${value}" is not a resolver address (ip or ip:port)`);
      return value;
    }),
  );
  return {
    compat: {
      phaseTimeoutMs: m.opt('phase_timeout_ms', DEFAULT_PHASE_TIMEOUT_MS, (n) => n.int(10, 600_000)),
      dns: {
        servers,
        timeoutMs: d.opt('timeout_ms', DNS_DEFAULTS.timeoutMs, (n) => n.int(10, 60_000)),
        tries: d.opt('tries', DNS_DEFAULTS.tries, (n) => n.int(1, 10)),
        cacheSize: d.opt('cache_size', DNS_DEFAULTS.cacheSize, (n) => n.int(0, 1_000_000)),
        cacheTtlMs: d.opt('cache_ttl_ms', DNS_DEFAULTS.cacheTtlMs, (n) => n.int(0, 86_400_000)),
      },
    },
  };
}

/** Services for `moonwatch serve`: the real resolver, real timers, and msg:inject into the configured sink. */
export function compatServicesFrom(cfg: CompatConfig | undefined, clock: Clock, inject?: (m: InjectedMessage) => Promise<void>): CompatServices {
  return {
    dns: new NodeDnsResolver(cfg?.dns ?? {}, clock),
    sleep: timerSleep,
    phaseTimeoutMs: cfg?.phaseTimeoutMs ?? DEFAULT_PHASE_TIMEOUT_MS,
    ...(inject === undefined ? {} : { inject }),
  };
}
