/**
 * The same convergence on a real 3-master Redis Cluster: every script runs in
 * the slot of one hash tag, streams are read per peer, membership lives in
 * its own slot.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { startRedisCluster, type RedisClusterProcesses } from '../helpers/redis-server.ts';
import { cidr, inProcessNode, ip, until, type InProcessNode } from './lib.ts';

let rc: RedisClusterProcesses;
const nodes: InProcessNode[] = [];

beforeAll(async () => {
  rc = await startRedisCluster(3);
}, 30_000);
afterAll(async () => {
  for (const n of nodes) await n.node.stop();
  await rc?.stop();
});

describe('replication on a 3-master Redis Cluster', () => {
  it('counts, gauges and series from three members converge exactly on each, each member writing under its own hash tag', async () => {
    for (const name of ['a', 'b', 'c']) nodes.push(inProcessNode(name, { nodes: rc.urls }));
    await until(() => nodes.every((n) => n.node.status().joined && n.node.status().peers.length === 2), 20_000, 'join');
    nodes.forEach((n, i) => {
      for (let k = 0; k <= i * 5; k++) n.store.record('connections', ip(`198.51.100.${k}`));
      n.store.series.define('s', 'string', 300, 6, { replicate: 'cluster' });
      n.store.series.add('s', 'key one', i + 1);
    });
    const g = nodes[1]!.store.gauges.open('SMTP', ip('198.51.100.9'));
    const total = 1 + 6 + 11;
    const block = cidr('198.51.100.0/24');
    await until(
      () =>
        nodes.every(
          (n) =>
            n.store.count('connections', '300,6', block, 0, 0, 'cluster') === total &&
            n.store.series.count('s', 'key one') === 6 &&
            n.store.gauges.count('inbound_cidr', block) === 1,
        ),
      20_000,
      'convergence',
    );
    expect(nodes[0]!.store.count('connections', '1800,4', cidr('198.51.100.0/32'), 0, 0, 'cluster')).toBe(3);
    g.close();
    // Each member writes under a hash tag of its own, and membership under the
    // prefix's: Redis places each tag's slot on some master, so the members
    // spread over the masters (which master a tag lands on depends on the boot
    // time in it, so the spread itself is not asserted).
    const keys = rc.nodes.flatMap((r) => spawnSync('redis-cli', ['-p', String(r.port), '--scan'], { encoding: 'utf8' }).stdout.split('\n').filter((k) => k !== ''));
    const tags = [...new Set(keys.map((k) => /^\{([^}]*)\}/.exec(k)?.[1] ?? `untagged ${k}`))].sort();
    expect(tags.map((t) => t.replace(/#\d+$/, '#<boot>'))).toEqual(['mw', 'mw:a#<boot>', 'mw:b#<boot>', 'mw:c#<boot>']);
  });
});
