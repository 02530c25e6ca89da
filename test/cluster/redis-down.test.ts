import { describe, expect, it } from 'vitest';
import { freePort } from '../helpers/redis-server.ts';
import { cidr, inProcessNode, ip, until } from './lib.ts';

describe('Redis unreachable from the start', () => {
  it('the node serves from local state, reports DOWN once, buffers, and stops promptly', async () => {
    const port = await freePort();
    const n = inProcessNode('lonely', { url: `redis://127.0.0.1:${port}` });
    try {
      for (let i = 0; i < 10; i++) n.store.record('connections', ip('203.0.113.5'));
      expect(n.store.count('connections', '300,6', cidr('203.0.113.0/24'), 0, 0, 'cluster')).toBe(10);
      await until(() => n.records.some((r) => /Redis unreachable/.test(r.msg)), 10_000, 'logged');
      // Several more attempts (probes count as commands sent): still one line.
      const c0 = n.node.status().redis.commandsSent;
      await until(() => n.node.status().redis.commandsSent >= c0 + 2, 10_000, 'more attempts');
      expect(n.records.filter((r) => /Redis unreachable/.test(r.msg))).toHaveLength(1);
      const s = n.node.status();
      expect(s.redis.up).toBe(false);
      expect(s.joined).toBe(false);
      expect(s.buffered).toBe(1);
    } finally {
      const t0 = Date.now();
      await n.node.stop();
      expect(Date.now() - t0).toBeLessThan(5000);
    }
  });
});
