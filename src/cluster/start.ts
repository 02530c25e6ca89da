import type { ClusterState } from '../audit/cluster-state.ts';
import type { AuditStore } from '../audit/store.ts';
import type { Clock } from '../clock.ts';
import type { ClusterConfig } from '../config/cluster.ts';
import type { Logger } from '../log.ts';
import { ClusterNode } from './node.ts';

/** Builds and starts this node's cluster member from the `cluster:` config (serve's composition root calls this). */
export function startCluster(
  cfg: ClusterConfig,
  deps: { store: AuditStore; state: ClusterState; clock: Clock; logger: Logger; logDir: string },
): ClusterNode {
  const node = new ClusterNode({
    settings: {
      node: cfg.node,
      endpoint: cfg.nodes !== undefined ? { nodes: cfg.nodes } : { url: cfg.url! },
      prefix: cfg.prefix,
      maxDelayMs: cfg.maxDelayMs,
      maxPending: cfg.maxPending,
      leaseMs: cfg.leaseMs,
      heartbeatMs: cfg.heartbeatMs,
      timeoutMs: cfg.timeoutMs,
      role: cfg.role,
      logIntervalSec: cfg.logInterval,
    },
    store: deps.store,
    state: deps.state,
    clock: deps.clock,
    logger: deps.logger.child({ component: 'cluster' }),
    logDir: deps.logDir,
  });
  node.start();
  return node;
}
