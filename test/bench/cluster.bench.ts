/**
 * Clustering (issue 10), each figure beside the same figure with clustering
 * off (or a naive layout) measured in the same run:
 *   - record an event with the outbox on vs the local record;
 *   - a cluster = true count over 1M tracked addresses vs a local count;
 *   - remote state bytes per IPv4 address vs the local store's;
 *   - convergence p50/p99 across 3 members on one redis-server at 1,000
 *     events/s (default max_delay 0.2 s) beside max_delay itself;
 *   - Redis commands/s per node at 1,000 sessions/s beside 10 sessions/s;
 *   - Redis memory per tracked address vs one plain key per address;
 *   - SMTP sessions/s of one node clustering on vs off.
 * The benchmark starts its own redis-server.
 */
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { cidrOf, ipv4 } from '../../src/audit/address.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { ManualClock, SystemClock } from '../../src/clock.ts';
import { ClusterNode } from '../../src/cluster/node.ts';
import { captureLogger } from '../../src/log.ts';
import { startRedis, type RedisProcess } from '../helpers/redis-server.ts';
import { median, medianMicros, memoryAfterGc, result, type BenchResult } from './lib.ts';

const MONITORS = ['300,6', '1800,4'];
const quiet = () => pino({ level: 'warn' }, new Writable({ write: (_c, _e, cb) => cb() }));

function addrs(n: number, seed: number): Uint32Array {
  let s = seed >>> 0;
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    out[i] = s;
  }
  return out;
}

function store(clock: { now(): number }, clustered: boolean, cap = 4_000_000): AuditStore {
  const s = new AuditStore({ clock, logger: captureLogger('error').logger, monitors: MONITORS, maxTrackedPerMonitor: cap });
  if (clustered) s.enableCluster();
  return s;
}

function recordCost(): BenchResult {
  const clock = new ManualClock(Date.UTC(2025, 0, 1));
  const a = addrs(20_000, 7);
  const objs = Array.from(a, (v) => ipv4(v));
  const local = store(clock, false);
  const clus = store(clock, true);
  const outbox = clus.cluster!.outbox;
  let base = 0;
  let ours = 0;
  // Alternate to spread drift over both sides; the outbox is drained between
  // samples as the flush timer would (off the measured path).
  const bases: number[] = [];
  const ourses: number[] = [];
  for (let round = 0; round < 5; round++) {
    bases.push(medianMicros((i) => local.record('connections', objs[i % objs.length]!), { samples: 21, batch: 2000 }));
    ourses.push(medianMicros((i) => clus.record('connections', objs[i % objs.length]!), { samples: 21, batch: 2000 }));
    outbox.drain();
  }
  base = median(bases);
  ours = median(ourses);
  return result({ name: 'record one event, clustering on (outbox) vs off', value: ours * 1000, unit: 'ns', baseline: base * 1000, targetOn: 'ratio', cmp: '<=', limit: 1.3 });
}

function countAndMemory(): BenchResult[] {
  const N = 1_000_000;
  const clock = new ManualClock(Date.UTC(2025, 0, 1));
  const a = addrs(N, 11);
  const m0 = memoryAfterGc();
  const local = store(clock, false);
  for (let i = 0; i < N; i++) local.record('connections', ipv4(a[i]!));
  const m1 = memoryAfterGc();
  // Clustered: half the addresses counted here, half arriving from peers.
  const clus = store(clock, true);
  const cl = clus.cluster!;
  const sec = Math.floor(clock.now() / 1000);
  const m2 = memoryAfterGc();
  for (let i = 0; i < N / 2; i++) cl.counters.apply(0, sec - (sec % 300), ipv4(a[i]!), 1, sec);
  const m3 = memoryAfterGc();
  for (let i = N / 2; i < N; i++) clus.record('connections', ipv4(a[i]!));
  cl.outbox.drain();
  // 64k distinct queries: neither side gets to answer from a cache-resident working set.
  const q = Array.from({ length: 65536 }, (_, i) => cidrOf(ipv4(a[(i * 7919) % N]!), i % 2 === 0 ? 32 : 24));
  const tLocal = medianMicros((i) => local.count('connections', '300,6', q[i & 65535]!, 0, 0, 'local'), { batch: 8192 });
  const tClus = medianMicros((i) => clus.count('connections', '300,6', q[i & 65535]!, 0, 0, 'cluster'), { batch: 8192 });
  return [
    result({ name: 'cluster = true count over 1M tracked addresses (half remote) vs local count', value: tClus, unit: 'us', baseline: tLocal, targetOn: 'value', cmp: '<=', limit: 2 }),
    result({ name: 'remote state per IPv4 address (2 monitors) vs the local store', value: (m3 - m2) / (N / 2), unit: 'B', baseline: (m1 - m0) / N, targetOn: 'value', cmp: '<=', limit: 200 }),
  ];
}

async function member(name: string, redis: RedisProcess, maxDelayMs = 200): Promise<{ store: AuditStore; node: ClusterNode }> {
  const clock = new SystemClock();
  const s = store(clock, true);
  const node = new ClusterNode({
    settings: { node: name, endpoint: { url: redis.url }, prefix: 'mw', maxDelayMs, maxPending: 5000, leaseMs: 5000, heartbeatMs: 1000, timeoutMs: 1000, role: 'node', logIntervalSec: 300 },
    store: s,
    state: s.cluster!,
    clock,
    logger: quiet(),
    logDir: '/tmp',
  });
  node.start();
  return { store: s, node };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function convergenceAndCommands(redis: RedisProcess): Promise<BenchResult[]> {
  const nodes = await Promise.all(['a', 'b', 'c'].map((n) => member(n, redis)));
  while (!nodes.every((n) => n.node.status().joined && n.node.status().peers.length === 2)) await sleep(20);
  // Load: `rate` sessions/s per node (a connection event and an open/close of its gauge), distinct addresses.
  let stop = false;
  let next = 1;
  const loadAt = async (rate: number) => {
    const tickMs = 10;
    while (!stop) {
      for (const n of nodes) {
        for (let i = 0; i < (rate * tickMs) / 1000; i++) {
          const ip = ipv4(0x0a000000 + next++);
          n.store.record('connections', ip);
          n.store.gauges.open('SMTP', ip).close();
        }
      }
      await sleep(tickMs);
    }
  };
  const cmdRate = async (rate: number, ms: number): Promise<number> => {
    stop = false;
    const l = loadAt(rate);
    await sleep(1000);
    const c0 = nodes.map((n) => n.node.commandsSent);
    const t0 = performance.now();
    await sleep(ms);
    const per = nodes.map((n, i) => n.node.commandsSent - c0[i]!);
    const secs = (performance.now() - t0) / 1000;
    stop = true;
    await l;
    return Math.max(...per) / secs;
  };
  const idle = await cmdRate(10, 4000);
  const busy = await cmdRate(1000, 4000);
  // Convergence: 1,000 events/s over the cluster plus a marker every 40 ms, watched on the two other nodes.
  stop = false;
  const l = loadAt(333);
  const lat: number[] = [];
  for (let k = 0; k < 150; k++) {
    const from = nodes[k % 3]!;
    const others = nodes.filter((n) => n !== from);
    const ip = ipv4(0xc6336400 + k);
    const c = cidrOf(ip, 32);
    const t0 = performance.now();
    from.store.record('rejections', ip);
    const seen = others.map(() => 0);
    while (seen.some((v) => v === 0)) {
      await sleep(2);
      others.forEach((n, i) => {
        if (seen[i] === 0 && n.store.count('rejections', '300,6', c, 0, 1, 'cluster') > 0) seen[i] = performance.now() - t0;
      });
    }
    lat.push(...seen);
    await sleep(20);
  }
  stop = true;
  await l;
  for (const n of nodes) await n.node.stop();
  lat.sort((x, y) => x - y);
  const p = (q: number) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))]!;
  return [
    result({ name: 'convergence p50 across 3 nodes at 1,000 events/s (vs max_delay)', value: p(0.5), unit: 'ms', baseline: 200, targetOn: 'value', cmp: '<=', limit: 500 }),
    result({ name: 'convergence p99 across 3 nodes at 1,000 events/s (vs max_delay)', value: p(0.99), unit: 'ms', baseline: 200, targetOn: 'value', cmp: '<=', limit: 500 }),
    result({ name: 'Redis commands/s per node at 1,000 sessions/s (vs 10 sessions/s)', value: busy, unit: 'cmd/s', baseline: idle, targetOn: 'value', cmp: '<=', limit: 20 }),
  ];
}

function redisMemory(port: number): number {
  const info = spawnSync('redis-cli', ['-p', String(port), 'info', 'memory'], { encoding: 'utf8' }).stdout;
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
}

async function redisBytesPerAddress(redis: RedisProcess): Promise<BenchResult> {
  const N = 100_000;
  const a = addrs(N, 23);
  spawnSync('redis-cli', ['-p', String(redis.port), 'flushall']);
  const m0 = redisMemory(redis.port);
  const { store: s, node } = await member('mem', redis, 100);
  for (let i = 0; i < N; i++) s.record('connections', ipv4(a[i]!));
  while (node.status().buffered > 0 || node.status().batchesSent === 0) await sleep(50);
  await node.stop();
  // Without the membership keys and the stream (fixed cost, trimmed): counter hashes only.
  spawnSync('redis-cli', ['-p', String(redis.port), 'eval', "for _,k in ipairs(redis.call('keys','*:s')) do redis.call('del',k) end return 1", '0']);
  const m1 = redisMemory(redis.port);
  spawnSync('redis-cli', ['-p', String(redis.port), 'flushall']);
  const n0 = redisMemory(redis.port);
  const script = `for i=1,#ARGV do redis.call('set', ARGV[i], 1) end return 1`;
  for (let off = 0; off < N; off += 10_000) {
    const keys = Array.from(a.slice(off, off + 10_000), (v) => `c:300:${v}`);
    spawnSync('redis-cli', ['-p', String(redis.port), 'eval', script, '0', ...keys]);
  }
  const n1 = redisMemory(redis.port);
  return result({
    name: 'Redis memory per tracked IPv4 address, one metric in 2 monitors (vs one plain key per address)',
    value: (m1 - m0) / N,
    unit: 'B',
    baseline: (n1 - n0) / N,
    targetOn: 'ratio',
    cmp: '<=',
    limit: 2,
  });
}

async function smtpRatio(redis: RedisProcess): Promise<BenchResult> {
  const { startClusteredMoonwatch } = await import('./cluster-smtp.ts');
  const { load } = await import('./smtp.bench.ts');
  const off = await startClusteredMoonwatch(undefined);
  const on = await startClusteredMoonwatch(redis.url);
  const runs = { off: [] as number[], on: [] as number[] };
  const win = { warmupMs: 1000, measureMs: 2000 };
  for (const which of ['off', 'on', 'on', 'off'] as const) {
    const r = await load((which === 'off' ? off : on).port, 50, win);
    runs[which].push((r.completed / r.elapsedMs) * 1000);
  }
  await off.close();
  await on.close();
  const avg = (v: number[]) => v.reduce((x, y) => x + y, 0) / v.length;
  return result({ name: 'smtp full sessions/s, 50 concurrent, clustering on vs off', value: avg(runs.on), unit: 'sessions/s', baseline: avg(runs.off), targetOn: 'ratio', cmp: '>=', limit: 0.95 });
}

export default async function (): Promise<BenchResult[]> {
  const out: BenchResult[] = [recordCost(), ...countAndMemory()];
  const redis = await startRedis();
  try {
    out.push(...(await convergenceAndCommands(redis)));
    out.push(await redisBytesPerAddress(redis));
    out.push(await smtpRatio(redis));
  } finally {
    await redis.stop();
  }
  return out;
}
