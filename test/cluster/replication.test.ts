import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RedisProcess } from '../helpers/redis-server.ts';
import { cidr, inProcessNode, ip, until, type InProcessNode } from './lib.ts';

let redis: RedisProcess;
const nodes: InProcessNode[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const n of nodes) await n.node.stop();
  await redis.stop();
});

function node(name: string): InProcessNode {
  const n = inProcessNode(name, { url: redis.url });
  nodes.push(n);
  return n;
}

describe('replication through one Redis (in-process members)', () => {
  it('counts recorded on two members converge exactly on both, per block and mask', async () => {
    const a = node('a');
    const b = node('b');
    await until(() => a.node.status().joined && b.node.status().joined, 10_000, 'join');
    for (let i = 0; i < 50; i++) a.store.record('connections', ip(`10.1.0.${i}`));
    for (let i = 0; i < 30; i++) b.store.record('connections', ip(`10.1.1.${i}`));
    b.store.record('rejections', ip('2001:db8::1'));
    const c16 = cidr('10.1.0.0/16');
    await until(() => a.store.count('connections', '300,6', c16, 0, 0, 'cluster') === 80 && b.store.count('connections', '300,6', c16, 0, 0, 'cluster') === 80, 10_000, 'convergence');
    expect(a.store.count('connections', '300,6', c16, 0, 0, 'local')).toBe(50);
    expect(b.store.count('connections', '1800,4', cidr('10.1.1.0/24'), 0, 3, 'cluster')).toBe(30);
    expect(a.store.count('connections', '1800,4', cidr('10.1.1.7/32'), 0, 0, 'cluster')).toBe(1);
    await until(() => a.store.count('rejections', '300,6', cidr('2001:db8::/32'), 0, 0, 'cluster') === 1, 10_000, 'v6');
  });

  it('inbound_cidr gauges sum over members and a leaving member is taken out', async () => {
    const a = nodes[0]!;
    const b = nodes[1]!;
    const g1 = a.store.gauges.open('SMTP', ip('192.0.2.1'));
    const g2 = b.store.gauges.open('SMTP', ip('192.0.2.2'));
    const block = cidr('192.0.2.0/24');
    await until(() => a.store.gauges.count('inbound_cidr', block) === 2 && b.store.gauges.count('inbound_cidr', block) === 2, 10_000, 'gauges');
    g1.close();
    await until(() => b.store.gauges.count('inbound_cidr', block) === 1, 10_000, 'close replicated');
    expect(a.store.gauges.count('SMTP', block)).toBe(0);
    g2.close();
  });

  it('a hung Redis (SIGSTOP) never blocks a read or a record; after SIGCONT the buffered changes arrive exactly once', async () => {
    const a = nodes[0]!;
    const b = nodes[1]!;
    const block = cidr('172.16.0.0/16');
    redis.pause();
    try {
      await until(() => !a.node.status().redis.up, 30_000, 'a notices the hung Redis');
      const t0 = performance.now();
      for (let i = 0; i < 40; i++) a.store.record('receptions', ip(`172.16.0.${i}`));
      expect(a.store.count('receptions', '300,6', block, 0, 0, 'cluster')).toBe(40);
      expect(performance.now() - t0).toBeLessThan(1000);
      expect(b.store.count('receptions', '300,6', block, 0, 0, 'cluster')).toBe(0);
      await until(() => a.node.status().buffered > 0, 30_000, 'buffered');
    } finally {
      redis.resume();
    }
    await until(() => b.store.count('receptions', '300,6', block, 0, 0, 'cluster') === 40, 60_000, 'catch-up');
    await until(() => a.node.status().buffered === 0, 30_000, 'drained');
    expect(b.store.count('receptions', '300,6', block, 0, 0, 'cluster')).toBe(40);
    expect(a.records.filter((r) => /Redis unreachable/.test(r.msg)).length).toBe(1);
  }, 120_000);
});
