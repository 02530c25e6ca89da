/**
 * Three real `moonwatch serve` processes and one real redis-server on
 * loopback. Everything is read through each node's console, and every wait
 * polls observable state.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RedisProcess } from '../helpers/redis-server.ts';
import { clusterLines, holdSession, poll, smtpSession, startNode, total, type NodeProcess } from './lib-process.ts';

const LIMIT = 60;
const LUA = `
require("msys.core")
require("msys.audit")
require("msys.audit_series")
require("msys.extended.vctx")
local p = {}
function p:init()
  msys.audit_series.define("seen", "cidr", 1800, 4, { replicate = "cluster" })
  msys.audit_series.define("mgr", "string", 1800, 4, { replicate = "manager" })
  return true
end
function p:validate_connect(ac, vctx)
  msys.audit_series.add("seen")
  msys.audit_series.add("mgr", "k")
  if msys.audit.connections("1800,4", { cidr = "/8", startv = 0, endv = 3, cluster = true }) > ${LIMIT} then
    vctx:disconnect(421, "4.7.0 cluster limit")
    return msys.core.VALIDATE_DONE
  end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("policy", p)
`;

let root: string;
let redis: RedisProcess;
const nodes: Record<string, NodeProcess> = {};

async function start(name: string, extra: string[] = []): Promise<NodeProcess> {
  const n = await startNode({ name, dir: join(root, `${name}-${Date.now()}`), lua: LUA, cluster: clusterLines(name, { url: redis.url }, extra) });
  nodes[name] = n;
  return n;
}

const clusterTotal = async (n: NodeProcess): Promise<number> => total(await n.run('cluster show ip 127.0.0.1'));
const localTotal = async (n: NodeProcess): Promise<number> => total(await n.run('show ip 127.0.0.1'));
const seriesCount = async (n: NodeProcess): Promise<number> => Number((await n.run('count_cidr 127.0.0.1 seen 1800,4 0 3'))[0]);
const live = () => Object.values(nodes).filter((n) => n.proc.exitCode === null && n.proc.signalCode === null);

async function sessions(n: NodeProcess, count: number): Promise<string[]> {
  const codes: string[] = [];
  for (let i = 0; i < count; i++) codes.push(await smtpSession(n.smtpPort));
  return codes;
}

async function settled(expected: number): Promise<void> {
  for (const n of live()) await poll(() => clusterTotal(n), (v) => v === expected, `${n.name} cluster total ${expected}`);
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'mw-cluster-'));
  redis = await startRedis();
  await Promise.all([start('a'), start('b'), start('c', ['role: manager', 'log_interval: 1'])]);
  for (const n of Object.values(nodes)) await poll(() => n.run('cluster status'), (l) => l.includes('joined: yes') && l.some((x) => x === 'peers: 2'), `${n.name} joined`);
}, 180_000);

afterAll(async () => {
  for (const n of live()) await n.stop();
  await redis?.stop();
  rmSync(root, { recursive: true, force: true });
}, 60_000);

describe('a three-node cluster on one Redis', () => {
  it('connection counts from sessions on each node converge exactly on every node, and so does a replicated series', async () => {
    expect(await sessions(nodes.a!, 4)).toEqual(['220', '220', '220', '220']);
    expect(await sessions(nodes.b!, 3)).toEqual(['220', '220', '220']);
    expect(await sessions(nodes.c!, 5)).toEqual(['220', '220', '220', '220', '220']);
    await settled(12);
    expect(await localTotal(nodes.b!)).toBe(3);
    for (const n of live()) await poll(() => seriesCount(n), (v) => v === 12, `${n.name} series`);
  }, 120_000);

  it('Redis killed mid-traffic: no session fails, local answers go on; after a restart (empty) the cluster figures are exact again', async () => {
    await redis.kill();
    for (const n of live()) await poll(() => n.run('cluster status'), (l) => l.some((x) => x.startsWith('redis: single DOWN')), `${n.name} sees Redis down`);
    expect(await sessions(nodes.a!, 3)).toEqual(['220', '220', '220']);
    expect(await sessions(nodes.b!, 2)).toEqual(['220', '220']);
    expect(await localTotal(nodes.a!)).toBe(7);
    // Last known cluster state plus our own: a knows the 8 others counted before the outage.
    expect(await clusterTotal(nodes.a!)).toBe(15);
    await redis.restart();
    await settled(17);
    let sum = 0;
    for (const n of live()) sum += await localTotal(n);
    expect(sum).toBe(17);
    const logs = nodes.a!.logs();
    expect(logs.match(/Redis unreachable/g)?.length).toBe(1);
    expect(logs).toMatch(/whole state re-sent/);
  }, 120_000);

  it('inbound_cidr gauges sum over the nodes and a kill -9ed node stops counting within the lease, its past counts stay', async () => {
    const held = [await holdSession(nodes.a!.smtpPort), await holdSession(nodes.a!.smtpPort), await holdSession(nodes.b!.smtpPort)];
    const openOn = async (n: NodeProcess, view = 'cluster shared show inbound_cidr') => {
      const line = (await n.run(view)).find((l) => /\s127\.0\.0\.1\/32$/.test(l));
      return line === undefined ? 0 : Number(line.trim().split(/\s+/)[0]);
    };
    await poll(() => openOn(nodes.c!), (v) => v === 3, 'c sees 3 open sessions');
    expect(await openOn(nodes.c!, 'cluster shared show inbound_cidr from a')).toBe(2);
    const before = await clusterTotal(nodes.c!);
    await nodes.a!.kill9();
    const t0 = Date.now();
    await poll(() => openOn(nodes.c!), (v) => v === 1, 'a\'s sessions dropped', 10_000);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await clusterTotal(nodes.c!)).toBe(before);
    for (const h of held) h.close();
    await poll(() => openOn(nodes.c!), (v) => v === 0, 'all closed');
  }, 120_000);

  it('a restarted node rejoins with the cluster state, without waiting for a window', async () => {
    const expected = await clusterTotal(nodes.c!);
    const a2 = await start('a');
    await poll(() => a2.run('cluster status'), (l) => l.includes('joined: yes'), 'a rejoined');
    expect(await localTotal(a2)).toBe(0);
    expect(await clusterTotal(a2)).toBe(expected);
  }, 120_000);

  it('a manager-only series reaches only the manager, which journals it', async () => {
    const status = async (n: NodeProcess) => (await n.run('cluster status')).join('\n');
    await poll(() => status(nodes.c!), (s) => /manager journal: .*\((\d+) adds received\)/.test(s) && Number(/\((\d+) adds received\)/.exec(s)![1]) >= 17, 'manager received');
    expect(await status(nodes.b!)).not.toMatch(/manager journal/);
    await poll(
      async () => readdirSync(join(nodes.c!.dir, 'journal')).filter((f) => f.startsWith('mgr.')),
      (files) => files.length > 0,
      'journal file',
    );
    const file = readdirSync(join(nodes.c!.dir, 'journal')).find((f) => f.startsWith('mgr.'))!;
    expect(readFileSync(join(nodes.c!.dir, 'journal', file), 'utf8')).toMatch(/^\d+ "k"$/m);
  }, 120_000);

  it('a policy reading cluster = true refuses a session on a node whose own count is low', async () => {
    const have = await clusterTotal(nodes.b!);
    const codes = await sessions(nodes.b!, LIMIT - have + 1);
    expect(codes.filter((c) => c === '421')).toHaveLength(1);
    await settled(LIMIT + 1);
    expect(await localTotal(nodes.c!)).toBeLessThan(LIMIT / 2);
    expect(await sessions(nodes.c!, 1)).toEqual(['421']);
  }, 120_000);
});
