/**
 * The audit store under a million tracked addresses (issue 2): record cost,
 * block queries at the listed prefixes, memory per tracked address. Each figure
 * is printed beside a naive store measured in the same run: a Map of
 * per-address counts, blocks answered by scanning it.
 *
 * Addresses are uniformly random (distinct), the worst case for the block
 * levels: every /24 and /27 holds about one host. Events are recorded through
 * freshly built address objects, as a session does with its parsed peer.
 */
import { cidrOf, ipv4, ipv6, type Cidr } from '../../src/audit/address.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { ManualClock } from '../../src/clock.ts';
import { captureLogger } from '../../src/log.ts';
import { median, medianMicros, memoryAfterGc, random, result, type BenchResult } from './lib.ts';

const N = 1_000_000;
const MONITORS = ['300,6', '1800,4'];
const START_MS = Date.UTC(2024, 0, 1, 10, 0, 0);
const W = 300_000;

function distinctV4(n: number, seed: number): Uint32Array {
  const next = random(seed);
  const seen = new Set<number>();
  const out = new Uint32Array(n);
  for (let i = 0; i < n; ) {
    const v = next();
    if (seen.has(v)) continue;
    seen.add(v);
    out[i++] = v;
  }
  return out;
}

/** Four words per address: 64 allocations (/32), random /48, /64 and host. */
function randomV6(n: number, seed: number): Uint32Array {
  const next = random(seed);
  const out = new Uint32Array(n * 4);
  for (let i = 0; i < n; i++) {
    out[4 * i] = 0x20010000 | (next() & 0x3f);
    out[4 * i + 1] = next();
    out[4 * i + 2] = next();
    out[4 * i + 3] = next();
  }
  return out;
}

function newStore(clock: ManualClock, cap = 4 * N): AuditStore {
  return new AuditStore({ clock, logger: captureLogger('error').logger, monitors: MONITORS, maxTrackedPerMonitor: cap });
}

/** Naive reference: per-address counts in a Map; a block is a scan over every key. */
function naiveCountV4(map: Map<number, number>, net: number, prefix: number): number {
  const shift = 32 - prefix;
  let sum = 0;
  for (const [k, v] of map) if (prefix === 0 || k >>> shift === net >>> shift) sum += v;
  return sum;
}

function naiveCountV6(map: Map<bigint, number>, net: bigint, prefix: number): number {
  const shift = BigInt(128 - prefix);
  const want = net >> shift;
  let sum = 0;
  for (const [k, v] of map) if (k >> shift === want) sum += v;
  return sum;
}

/** Median of single timed calls, for baselines too slow for medianMicros' warm-up. */
function medianSlowMicros(fn: (i: number) => void, calls: number): number {
  fn(0);
  const times: number[] = [];
  for (let i = 1; i <= calls; i++) {
    const t0 = process.hrtime.bigint();
    fn(i);
    times.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  return median(times);
}

function bigOf(words: Uint32Array, i: number): bigint {
  return (BigInt(words[4 * i]!) << 96n) | (BigInt(words[4 * i + 1]!) << 64n) | (BigInt(words[4 * i + 2]!) << 32n) | BigInt(words[4 * i + 3]!);
}

export default async function storeBench(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const v4 = distinctV4(N, 1);
  const v6 = randomV6(N, 2);
  const events = new Uint32Array(1 << 20);
  const pick = random(3);
  for (let i = 0; i < events.length; i++) events[i] = v4[pick() % N]!;

  // --- memory: 1M distinct addresses recorded once into the default monitors.
  let before = memoryAfterGc();
  const naive4 = new Map<number, number>();
  for (let i = 0; i < N; i++) naive4.set(v4[i]!, 1);
  const naive4Bytes = (memoryAfterGc() - before) / N;

  const clock = new ManualClock(START_MS);
  before = memoryAfterGc();
  const store = newStore(clock);
  for (let i = 0; i < N; i++) store.record('connections', ipv4(v4[i]!));
  const store4Bytes = (memoryAfterGc() - before) / N;
  results.push(result({ name: 'memory per tracked IPv4 address', value: store4Bytes, unit: 'B', baseline: naive4Bytes, targetOn: 'value', cmp: '<=', limit: 200 }));

  // --- record: one event into the default monitors, 1M tracked.
  const mask = events.length - 1;
  const recordUs = medianMicros((i) => store.record('connections', ipv4(events[i & mask]!)), { samples: 41, batch: 20_000 });
  const naiveRecordUs = medianMicros(
    (i) => {
      const k = events[i & mask]!;
      naive4.set(k, (naive4.get(k) ?? 0) + 1);
    },
    { samples: 41, batch: 20_000 },
  );
  results.push(result({ name: 'record, 2 monitors, 1M IPv4 tracked', value: recordUs, unit: 'us', baseline: naiveRecordUs, targetOn: 'value', cmp: '<=', limit: 1 }));

  // --- queries over six windows of history: every address once, a third again in each later window.
  const hist = new ManualClock(START_MS);
  const hstore = newStore(hist);
  for (let i = 0; i < N; i++) hstore.record('connections', ipv4(v4[i]!));
  for (let w = 1; w < 6; w++) {
    hist.set(START_MS + w * W);
    for (let i = w % 3; i < N; i += 3) hstore.record('connections', ipv4(v4[i]!));
  }
  for (const prefix of [32, 27, 24, 16, 8, 0]) {
    const blocks: Cidr[] = [];
    for (let i = 0; i < 1024; i++) blocks.push(cidrOf(ipv4(v4[pick() % N]!), prefix));
    const naiveUs = medianSlowMicros((i) => void naiveCountV4(naive4, blocks[i & 1023]!.addr.w0, prefix), 5);
    for (const [label, s, e] of [['current window', 0, 0], ['windows 0..5', 0, 5]] as const) {
      const us = medianMicros((i) => void hstore.count('connections', '300,6', blocks[i & 1023]!, s, e), { samples: 31, batch: 2048 });
      results.push(result({ name: `count IPv4 /${prefix}, ${label}`, value: us, unit: 'us', baseline: naiveUs, targetOn: 'value', cmp: '<=', limit: 2 }));
    }
  }

  // --- IPv6: memory, then queries with six windows of history.
  before = memoryAfterGc();
  const naive6 = new Map<bigint, number>();
  for (let i = 0; i < N; i++) naive6.set(bigOf(v6, i), 1);
  const naive6Bytes = (memoryAfterGc() - before) / N;
  const clock6 = new ManualClock(START_MS);
  before = memoryAfterGc();
  const store6 = newStore(clock6);
  for (let i = 0; i < N; i++) store6.record('connections', ipv6(v6[4 * i]!, v6[4 * i + 1]!, v6[4 * i + 2]!, v6[4 * i + 3]!));
  const store6Bytes = (memoryAfterGc() - before) / N;
  results.push(result({ name: 'memory per tracked IPv6 address', value: store6Bytes, unit: 'B', baseline: naive6Bytes, targetOn: 'value', cmp: '<=', limit: 300 }));
  for (let w = 1; w < 6; w++) {
    clock6.set(START_MS + w * W);
    for (let i = w % 3; i < N; i += 3) store6.record('connections', ipv6(v6[4 * i]!, v6[4 * i + 1]!, v6[4 * i + 2]!, v6[4 * i + 3]!));
  }
  for (const prefix of [128, 64, 48]) {
    const blocks: Cidr[] = [];
    const nets: bigint[] = [];
    for (let i = 0; i < 1024; i++) {
      const j = pick() % N;
      const b = cidrOf(ipv6(v6[4 * j]!, v6[4 * j + 1]!, v6[4 * j + 2]!, v6[4 * j + 3]!), prefix);
      blocks.push(b);
      nets.push((BigInt(b.addr.w0) << 96n) | (BigInt(b.addr.w1) << 64n) | (BigInt(b.addr.w2) << 32n) | BigInt(b.addr.w3));
    }
    const naiveUs = medianSlowMicros((i) => void naiveCountV6(naive6, nets[i & 1023]!, prefix), 5);
    for (const [label, s, e] of [['current window', 0, 0], ['windows 0..5', 0, 5]] as const) {
      const us = medianMicros((i) => void store6.count('connections', '300,6', blocks[i & 1023]!, s, e), { samples: 31, batch: 2048 });
      results.push(result({ name: `count IPv6 /${prefix}, ${label}`, value: us, unit: 'us', baseline: naiveUs, targetOn: 'value', cmp: '<=', limit: 2 }));
    }
  }
  return results;
}
