import { describe, expect, it } from 'vitest';
import { AuditStore } from '../../src/audit/store.ts';
import { ManualClock } from '../../src/clock.ts';
import { incarnationKeys } from '../../src/cluster/keys.ts';
import { Receiver } from '../../src/cluster/receiver.ts';
import type { RedisLink } from '../../src/cluster/redis-link.ts';
import { captureLogger } from '../../src/log.ts';

/**
 * One peer's stream in memory, read as XREAD reads it, and a snapshot whose
 * sequence the test moves (the hashes run ahead of what the receiver read).
 */
function fakeRedis(stream: string) {
  const entries: Array<[string, string[]]> = [];
  let snapshotSeq = 0;
  const link = {
    kind: 'single',
    async command(_key: string | undefined, args: readonly string[]) {
      expect(args.slice(0, 4)).toEqual(['XREAD', 'COUNT', '2', 'STREAMS']);
      expect(args[4]).toBe(stream);
      const after = Number(args[5]!.split('-')[0]);
      const out = entries.filter(([id]) => Number(id.split('-')[0]) > after).slice(0, 2);
      return out.length === 0 ? null : [[stream, out]];
    },
    async script() {
      return [String(snapshotSeq), []];
    },
  } as unknown as RedisLink;
  return {
    link,
    add(seq: number, key: string, opts: { resync?: boolean } = {}) {
      entries.push([`${seq}-1`, ['d', `m mgr|string|60,10 0 ${key} 1`, ...(opts.resync ? ['r', '1'] : [])]]);
    },
    snapshotAt(seq: number) {
      snapshotSeq = seq;
    },
  };
}

describe('a manager node receiving manager-series adds', () => {
  it('applies every batch’s adds exactly once when a rebuild moves past batches it had not read yet', async () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 6));
    const { logger } = captureLogger();
    const store = new AuditStore({ clock, logger, monitors: ['300,6'] });
    const state = store.enableCluster();
    const got: string[] = [];
    const stream = incarnationKeys('mw', 'p#1').stream;
    const redis = fakeRedis(stream);
    const rx = new Receiver({ link: redis.link, prefix: 'mw', state, logger, nowMs: () => clock.now(), readCount: 2, onManagerSeries: (_id, key) => got.push(key) });
    const p = rx.peer('p#1', { name: 'p', role: 'node' }, clock.now());
    await rx.rebuild(); // joined at sequence 0
    for (let seq = 1; seq <= 6; seq++) redis.add(seq, `k${seq}`, { resync: seq === 3 });
    await rx.poll([p]); // 1, 2
    expect(got).toEqual(['k1', 'k2']);
    await rx.poll([p]); // 3 is a resync: a rebuild is due; 4 comes in the same read
    expect(got).toEqual(['k1', 'k2', 'k3', 'k4']);
    // The hashes already hold batch 6: the rebuild moves the state past 5 and 6, which were never read.
    redis.snapshotAt(6);
    await rx.rebuild();
    expect(p.lastSeq).toBe(6);
    await rx.poll([p]);
    await rx.poll([p]);
    expect(got).toEqual(['k1', 'k2', 'k3', 'k4', 'k5', 'k6']);
  });
});
