/**
 * The `cluster:` section (docs/cluster.md). Absent: a single node, exactly as
 * before, and nothing talks to Redis.
 */
import type { ClusterFamilies } from '../audit/cluster-state.ts';
import { NODE_NAME, PREFIX } from '../cluster/keys.ts';
import type { ConfigNode } from './reader.ts';

export interface ClusterConfig {
  /** This node's name; an incarnation is `<name>#<boot ms>`. */
  readonly node: string;
  /** One Redis server … */
  readonly url?: string;
  /** … or Redis Cluster seed nodes. */
  readonly nodes?: string[];
  readonly prefix: string;
  readonly maxDelayMs: number;
  readonly maxPending: number;
  readonly maxBuffered: number;
  readonly leaseMs: number;
  readonly heartbeatMs: number;
  readonly timeoutMs: number;
  readonly role: 'node' | 'manager';
  readonly logInterval: number;
  readonly replicate: ClusterFamilies;
}

export const CLUSTER_DEFAULTS = Object.freeze({
  prefix: 'mw',
  maxDelay: 0.2,
  maxPending: 5000,
  maxBuffered: 200_000,
  lease: 5,
  heartbeat: 1,
  timeoutMs: 1000,
  logInterval: 300,
});

/** Spec §12.1 parameter names and what they switch on. */
const FAMILY_NAMES: Record<string, keyof ClusterFamilies> = {
  metrics: 'metrics',
  connect: 'metrics',
  reception: 'metrics',
  rejection: 'metrics',
  inbound_cidr: 'inboundCidr',
  audit_series: 'series',
  eccmgr_metrics: 'series',
};

const REDIS_URL = /^rediss?:\/\/[^\s/]+(\/\d{1,2})?$/;

export function readCluster(node: ConfigNode): { cluster?: ClusterConfig } {
  if (node.isNull) return {};
  const m = node.map(['node', 'redis', 'redis_cluster', 'prefix', 'max_delay', 'max_pending', 'max_buffered', 'lease', 'heartbeat', 'timeout_ms', 'role', 'log_interval', 'replicate']);
  const nameNode = m.required('node');
  const name = nameNode.string();
  if (!NODE_NAME.test(name)) nameNode.fail(`"${name}" is not a node name (1-64 letters, digits, _ . -)`);
  const url = m.opt('redis', undefined as string | undefined, (n) => {
    const v = n.string();
    if (!REDIS_URL.test(v)) n.fail(`"${v}" is not a Redis URL like redis://127.0.0.1:6379`);
    return v;
  });
  const nodes = m.opt('redis_cluster', undefined as string[] | undefined, (n) =>
    n.stringList().map(({ value, node: item }) => {
      if (!REDIS_URL.test(value)) item.fail(`"${value}" is not a Redis URL like redis://127.0.0.1:7000`);
      return value;
    }),
  );
  if (url !== undefined && nodes !== undefined) m.get('redis_cluster').fail('give either redis (one server) or redis_cluster (seed nodes), not both');
  if (url === undefined && nodes === undefined) node.fail('needs redis (one server) or redis_cluster (Redis Cluster seed nodes)', `${node.path}.redis`);
  const prefix = m.opt('prefix', CLUSTER_DEFAULTS.prefix, (n) => {
    const v = n.string();
    if (!PREFIX.test(v)) n.fail(`"${v}" is not a key prefix (1-32 letters, digits, _ . -)`);
    return v;
  });
  const d = CLUSTER_DEFAULTS;
  const lease = m.opt('lease', d.lease, (n) => n.number(2, 10));
  const heartbeat = m.opt('heartbeat', d.heartbeat, (n) => n.number(0.1, 5));
  if (heartbeat * 2 > lease) m.get('heartbeat').fail(`(${heartbeat} s) must be at most half the lease (${lease} s)`);
  const families = { metrics: false, inboundCidr: false, series: false };
  const replicate = m.opt('replicate', null as ClusterFamilies | null, (n) => {
    for (const { value, node: item } of n.stringList()) {
      const f = FAMILY_NAMES[value] ?? item.fail(`"${value}" is not a replicated family (${Object.keys(FAMILY_NAMES).join(', ')})`);
      families[f] = true;
    }
    return families;
  });
  return {
    cluster: {
      node: name,
      ...(url === undefined ? {} : { url }),
      ...(nodes === undefined ? {} : { nodes }),
      prefix,
      maxDelayMs: Math.round(m.opt('max_delay', d.maxDelay, (n) => n.number(0.01, 10)) * 1000),
      maxPending: m.opt('max_pending', d.maxPending, (n) => n.int(1, 1_000_000)),
      maxBuffered: m.opt('max_buffered', d.maxBuffered, (n) => n.int(100, 10_000_000)),
      leaseMs: Math.round(lease * 1000),
      heartbeatMs: Math.round(heartbeat * 1000),
      timeoutMs: m.opt('timeout_ms', d.timeoutMs, (n) => n.int(50, 60_000)),
      role: m.opt('role', 'node' as const, (n) => n.oneOf(['node', 'manager'] as const)),
      logInterval: m.opt('log_interval', d.logInterval, (n) => n.int(1, 86_400)),
      replicate: replicate ?? { metrics: true, inboundCidr: true, series: true },
    },
  };
}
