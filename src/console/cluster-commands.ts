import { cidrOf, formatCidr, type Cidr, type IpAddress } from '../audit/address.ts';
import type { AuditStore } from '../audit/store.ts';
import type { ClusterStatus } from '../cluster/node.ts';
import { nodeNameOf } from '../cluster/keys.ts';
import { cidrArg, showIp } from './audit-commands.ts';
import { ConsoleCommandError } from './errors.ts';

/** What the cluster commands read; serve passes its ClusterNode. */
export interface ClusterConsole {
  status(): ClusterStatus;
}

export const CLUSTER_HELP = [
  'cluster status                                         nodes, heartbeats, replication lag, Redis health, buffered/dropped',
  'cluster shared show inbound_cidr [from <node>]         open sessions per block, cluster-wide or one node\'s',
  'cluster show ip <ip[/mask]>                            show ip with cluster-wide figures',
];

const V4_LEVELS = [8, 16, 24, 32];
const V6_LEVELS = [32, 48, 64, 128];

export function runClusterCommand(args: readonly string[], store: AuditStore, cluster: ClusterConsole | undefined): string[] {
  if (cluster === undefined || store.cluster === null) throw new ConsoleCommandError('this node is not clustered (no cluster section in its config)');
  const [what, ...rest] = args;
  if (what === 'status' && rest.length === 0) return statusLines(cluster.status());
  if (what === 'shared' && rest[0] === 'show' && rest[1] === 'inbound_cidr') {
    if (rest.length === 2) return sharedView(store, cluster.status(), undefined);
    if (rest.length === 4 && rest[2] === 'from') return sharedView(store, cluster.status(), rest[3]!);
  }
  if (what === 'show' && rest[0] === 'ip' && rest.length === 2) return showIp(store, cidrArg(rest[1]!), 'cluster');
  throw new ConsoleCommandError('usage: cluster status | cluster shared show inbound_cidr [from <node>] | cluster show ip <ip[/mask]>');
}

function statusLines(s: ClusterStatus): string[] {
  const out = [
    `node: ${s.node} (incarnation ${s.incarnation}, role ${s.role})`,
    `redis: ${s.redis.kind} ${s.redis.up ? 'up' : 'DOWN'}${s.redis.lastError === undefined ? '' : ` (${s.redis.lastError})`} commands sent ${s.redis.commandsSent}`,
    `joined: ${s.joined ? 'yes' : 'no'}`,
    `outbox: buffered ${s.buffered} dropped ${s.dropped} batches sent ${s.batchesSent} last seq ${s.lastSeq} retries ${s.retries} resyncs ${s.resyncs}`,
    `state rebuilds: ${s.rebuilds}`,
    `peers: ${s.peers.length}`,
  ];
  for (const p of s.peers) {
    out.push(
      `  ${p.name} ${p.incarnation} ${p.alive ? 'alive' : 'gone'} role ${p.role} last heartbeat ${p.lastHeartbeatAgeMs} ms ago, batches ${p.batches} (seq ${p.lastSeq}), lag ${p.lagMs} ms, open sessions ${p.openSessions}`,
    );
  }
  if (s.managerJournal !== undefined) out.push(`manager journal: ${s.managerJournal.dir} (${s.managerJournal.received} adds received)`);
  return out;
}

/** Spec §12.2: a header, then one line per tree node (aggregates and hosts): right-aligned count, CIDR. */
function sharedView(store: AuditStore, s: ClusterStatus, from: string | undefined): string[] {
  const cl = store.cluster!;
  let hosts: Array<[IpAddress, number]>;
  let view = 'global';
  if (from === undefined) {
    hosts = [...store.gauges.hosts('SMTP'), ...cl.gauges.hosts()];
  } else if (from === s.node || from === s.incarnation) {
    hosts = store.gauges.hosts('SMTP');
    view = `#${s.incarnation}`;
  } else {
    const peer = s.peers.find((p) => p.incarnation === from) ?? s.peers.filter((p) => nodeNameOf(p.incarnation) === from && p.alive)[0];
    if (peer === undefined) throw new ConsoleCommandError(`no live node "${from.slice(0, 64)}" (cluster status lists them)`);
    hosts = cl.gauges.hosts(peer.incarnation);
    view = `#${peer.incarnation}`;
  }
  const tree = new Map<string, { cidr: Cidr; n: number }>();
  for (const [addr, n] of hosts) {
    for (const p of addr.family === 4 ? V4_LEVELS : V6_LEVELS) {
      const c = cidrOf(addr, p);
      const k = formatCidr(c);
      const e = tree.get(k);
      if (e === undefined) tree.set(k, { cidr: c, n });
      else e.n += n;
    }
  }
  const rows = [...tree.values()].filter((e) => e.n !== 0).sort(byTree);
  const width = Math.max(1, ...rows.map((e) => String(e.n).length));
  return [`lazy, snapped cidrtree 'inbound_cidr', view '${view}'`, ...rows.map((e) => `${String(e.n).padStart(width)} ${formatCidr(e.cidr)}`)];
}

function byTree(a: { cidr: Cidr }, b: { cidr: Cidr }): number {
  const x = a.cidr.addr;
  const y = b.cidr.addr;
  if (x.family !== y.family) return x.family - y.family;
  for (const w of ['w0', 'w1', 'w2', 'w3'] as const) if (x[w] !== y[w]) return x[w] - y[w];
  return a.cidr.prefix - b.cidr.prefix;
}

