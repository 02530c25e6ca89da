import type { Metric } from 'prom-client';
import { PHASES, type PhaseSpec } from '../policy/phases.ts';

/** One exposition line's worth, as prom-client's registry reads it from get(). */
interface Sample {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/**
 * moonwatch_phase_duration_seconds, kept as plain arrays and turned into
 * Prometheus lines only when scraped. prom-client's Histogram hashes the label
 * set on every observe(), which at five phases a session cost more than the
 * phases' own bookkeeping; here an observation is a bucket search and three
 * additions. Registered on the server's registry like any prom-client metric.
 */
export class PhaseHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum' as const;
  /** Per phase (by PhaseSpec.index): a count per bucket (not cumulative), then sum and count. */
  private byPhase: { buckets: Float64Array; sum: number; count: number }[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
  ) {}

  observe(phase: PhaseSpec, seconds: number): void {
    const h = (this.byPhase[phase.index] ??= { buckets: new Float64Array(this.bounds.length), sum: 0, count: 0 });
    const b = this.bounds;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    if (i < b.length) h.buckets[i]!++;
    h.sum += seconds;
    h.count++;
  }

  // prom-client's registry reads a metric through get() and reset().
  async get(): Promise<{ name: string; help: string; type: string; values: Sample[]; aggregator: string }> {
    const values: Sample[] = [];
    this.byPhase.forEach((h, i) => {
      const phase = PHASES[i]!.name;
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += h.buckets[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le, phase }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', phase }, value: h.count });
      values.push({ metricName: `${this.name}_sum`, labels: { phase }, value: h.sum });
      values.push({ metricName: `${this.name}_count`, labels: { phase }, value: h.count });
    });
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.byPhase = [];
  }

  /** The metric as prom-client's Registry.registerMetric() takes it. */
  asMetric(): Metric<string> {
    return this as unknown as Metric<string>;
  }
}
