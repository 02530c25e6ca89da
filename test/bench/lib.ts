/**
 * Shared benchmark plumbing. Every figure is measured beside a baseline in the
 * same run, because the machines are shared and absolute times drift; the ratio
 * is what a reader should compare across runs. Benchmarks never fail CI.
 */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  baseline: number;
  /** value / baseline */
  ratio: number;
  /** Human-readable target, e.g. "<= 1 us" or "ratio <= 2.5". */
  target: string;
  pass: boolean;
}

export type Comparison = '<=' | '>=';

export interface ResultInput {
  name: string;
  value: number;
  unit: string;
  baseline: number;
  /** What the target applies to: the value itself or the ratio value/baseline. */
  targetOn: 'value' | 'ratio';
  cmp: Comparison;
  limit: number;
}

export function result(r: ResultInput): BenchResult {
  const ratio = r.baseline === 0 ? 0 : r.value / r.baseline;
  const subject = r.targetOn === 'value' ? r.value : ratio;
  const pass = r.cmp === '<=' ? subject <= r.limit : subject >= r.limit;
  const target = r.targetOn === 'value' ? `${r.cmp} ${r.limit} ${r.unit}` : `ratio ${r.cmp} ${r.limit}`;
  return {
    name: r.name,
    value: round(r.value),
    unit: r.unit,
    baseline: round(r.baseline),
    ratio: round(ratio),
    target,
    pass,
  };
}

/** Three decimals, but small ratios (0.0000089 of a naive scan) keep three significant digits. */
function round(n: number): number {
  if (n !== 0 && Math.abs(n) < 0.01) return Number(n.toPrecision(3));
  return Math.abs(n) >= 100 ? Math.round(n * 10) / 10 : Math.round(n * 1000) / 1000;
}

/**
 * Median time of one call, in microseconds. Calls are batched so that timer
 * resolution does not dominate sub-microsecond operations.
 */
export function medianMicros(fn: (i: number) => void, opts: { samples?: number; batch?: number } = {}): number {
  const samples = opts.samples ?? 51;
  const batch = opts.batch ?? 1000;
  const times: number[] = [];
  let i = 0;
  // Warm up until the JIT settles: 20,000 calls, or 300 ms for slow operations.
  const warmEnd = performance.now() + 300;
  for (let w = 0; w < Math.max(batch, 20_000) && (w < batch || performance.now() < warmEnd); w++) fn(i++);
  for (let s = 0; s < samples; s++) {
    const t0 = process.hrtime.bigint();
    for (let b = 0; b < batch; b++) fn(i++);
    const t1 = process.hrtime.bigint();
    times.push(Number(t1 - t0) / 1000 / batch);
  }
  return median(times);
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  if (sorted.length === 0) return NaN;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Heap + ArrayBuffers after a full GC (needs node --expose-gc). */
export function memoryAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** A seeded 32-bit generator (mulberry32): the same addresses every run. */
export function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
    return (t ^ (t >>> 14)) >>> 0;
  };
}
