import { parseAddress, parseCidr } from '../../src/audit/address.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { SystemClock } from '../../src/clock.ts';
import { ClusterNode, type ClusterSettings } from '../../src/cluster/node.ts';
import type { RedisEndpoint } from '../../src/cluster/redis-link.ts';
import { captureLogger, type LogRecord } from '../../src/log.ts';

export const ip = parseAddress;
export const cidr = (s: string) => parseCidr(s);

export interface InProcessNode {
  store: AuditStore;
  node: ClusterNode;
  records: LogRecord[];
}

/** A store and its cluster member in this process, on the system clock, with a short max_delay. */
export function inProcessNode(name: string, endpoint: RedisEndpoint, over: Partial<ClusterSettings> = {}, logDir = '/tmp'): InProcessNode {
  const { logger, records } = captureLogger('info');
  const clock = new SystemClock();
  const store = new AuditStore({ clock, logger, monitors: ['300,6', '1800,4'] });
  const state = store.enableCluster();
  const settings: ClusterSettings = {
    node: name,
    endpoint,
    prefix: 'mw',
    maxDelayMs: 100,
    maxPending: 5000,
    leaseMs: 2000,
    heartbeatMs: 250,
    timeoutMs: 500,
    role: 'node',
    logIntervalSec: 60,
    ...over,
  };
  const node = new ClusterNode({ settings, store, state, clock, logger, logDir });
  node.start();
  return { store, node, records };
}

/** Polls fn until it returns true (every 20 ms, up to timeoutMs). */
export async function until(fn: () => boolean, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (fn()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
