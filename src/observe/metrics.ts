/**
 * The Prometheus metrics of `moonwatch serve` (prom-client, a registry per
 * server: no global state). Counters are fed by the policy observer and the
 * sink wrapper as events happen; gauges that mirror state (open sessions,
 * tracked addresses, series keys) are read from their owners at scrape time.
 * docs/operations.md lists every name.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { AuditStore } from '../audit/store.ts';
import { PHASES, type PhaseName, type PhaseSpec } from '../policy/phases.ts';
import type { PolicyObserver } from '../policy/observer.ts';
import type { Verdict } from '../policy/verdict.ts';
import type { Sink } from '../smtp/sink.ts';
import { PhaseHistogram } from './phase-histogram.ts';

export interface MetricsSources {
  readonly store: AuditStore;
  /** Sessions accepted since start and open now (the SMTP listener's figures). */
  readonly sessions: () => { accepted: number; open: number };
  readonly generation: () => number;
}

export class ServerMetrics implements PolicyObserver {
  /** Other parts add their own metrics here (the cluster: moonwatch_cluster_lag_seconds). */
  readonly registry = new Registry();
  readonly verdicts: Counter<'phase' | 'module' | 'code_class'>;
  readonly faults: Counter<'phase' | 'module'>;
  readonly phaseDuration: PhaseHistogram;
  readonly reloads: Counter<'result'>;
  readonly tarpitSeconds: Counter;
  readonly sinkErrors: Counter<'sink'>;
  /** What every verdict has been, by action, since start (for `status`). */
  readonly verdictTotals = new Map<string, number>();

  constructor(sources: MetricsSources) {
    const r = this.registry;
    collectDefaultMetrics({ register: r, prefix: 'moonwatch_process_' });
    new Gauge({
      name: 'moonwatch_sessions_accepted',
      help: 'SMTP connections accepted since start (a counter, read from the listener at scrape time)',
      registers: [r],
      collect() {
        this.set(sources.sessions().accepted);
      },
    });
    new Gauge({
      name: 'moonwatch_sessions_open',
      help: 'SMTP connections open now',
      registers: [r],
      collect() {
        this.set(sources.sessions().open);
      },
    });
    // Verdicts are tallied in a plain map per phase (prom-client hashes the label set on every
    // inc()); the counter is set from the tallies when scraped.
    const tallies = this.verdictTallies;
    this.verdicts = new Counter({
      name: 'moonwatch_verdicts_total',
      help: 'Phase verdicts by phase, deciding module ("-": none) and reply code class (2xx when the session continued)',
      labelNames: ['phase', 'module', 'code_class'],
      registers: [r],
      collect() {
        this.reset();
        tallies.forEach((byModule, i) => {
          const phase = PHASES[i]!.name;
          for (const [module, byClass] of byModule) byClass.forEach((n, cls) => this.inc({ phase, module, code_class: `${cls}xx` }, n));
        });
      },
    });
    this.faults = new Counter({ name: 'moonwatch_script_faults_total', help: 'Script faults (runtime errors, budget exceeded) by phase and module', labelNames: ['phase', 'module'], registers: [r] });
    this.phaseDuration = new PhaseHistogram('moonwatch_phase_duration_seconds', 'Time the scripts of one phase took', [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1]);
    r.registerMetric(this.phaseDuration.asMetric());
    this.reloads = new Counter({ name: 'moonwatch_reloads_total', help: 'Reloads of config and scripts by result (ok, failed)', labelNames: ['result'], registers: [r] });
    this.tarpitSeconds = new Counter({ name: 'moonwatch_tarpit_seconds_total', help: 'Seconds of tarpit delay the policies asked for', registers: [r] });
    this.sinkErrors = new Counter({ name: 'moonwatch_sink_errors_total', help: 'Messages the sink did not accept, by sink type', labelNames: ['sink'], registers: [r] });
    new Gauge({
      name: 'moonwatch_tracked_addresses',
      help: 'Addresses and blocks tracked, per monitor set (the configured monitors share one cap; a lazily created monitor has its own)',
      labelNames: ['monitors'],
      registers: [r],
      collect() {
        this.reset();
        for (const m of sources.store.monitorSetStats()) this.set({ monitors: m.monitors }, m.trackedAddresses);
      },
    });
    new Gauge({
      name: 'moonwatch_monitor_degraded_events',
      help: 'Events not stored because a monitor set was at its cap on tracked addresses (cumulative), per monitor set',
      labelNames: ['monitors'],
      registers: [r],
      collect() {
        this.reset();
        for (const m of sources.store.monitorSetStats()) this.set({ monitors: m.monitors }, m.degradedEvents);
      },
    });
    new Gauge({
      name: 'moonwatch_series_degraded_events',
      help: 'Events not stored because an audit series was at its cap on tracked keys (cumulative, all series)',
      registers: [r],
      collect() {
        const monitors = sources.store.monitorSetStats().reduce((n, m) => n + m.degradedEvents, 0);
        this.set(sources.store.stats().degradedEvents - monitors);
      },
    });
    new Gauge({
      name: 'moonwatch_series_keys',
      help: 'Tracked (key, window) entries per audit series',
      labelNames: ['series'],
      registers: [r],
      collect() {
        this.reset();
        for (const s of sources.store.series.list()) this.set({ series: s.name }, s.keys);
      },
    });
    new Gauge({
      name: 'moonwatch_script_generation',
      help: 'The live script generation',
      registers: [r],
      collect() {
        this.set(sources.generation());
      },
    });
    // Cluster replication lag (moonwatch_cluster_lag_seconds) is registered on this.registry by the cluster code when clustering is configured.
  }

  phase(phase: PhaseSpec, verdict: Verdict, module: string | undefined, durationMs: number): void {
    const code = verdict.code;
    const cls = code === undefined ? 2 : Math.floor(code / 100);
    const byModule = (this.verdictTallies[phase.index] ??= new Map());
    const name = module ?? '-';
    let byClass = byModule.get(name);
    if (byClass === undefined) byModule.set(name, (byClass = []));
    byClass[cls] = (byClass[cls] ?? 0) + 1;
    this.phaseDuration.observe(phase, durationMs / 1000);
    if (verdict.tarpitMs > 0) this.tarpitSeconds.inc(verdict.tarpitMs / 1000);
    const action = verdict.action === 'continue' && verdict.tarpitMs > 0 ? 'tarpit' : verdict.action;
    this.verdictTotals.set(action, (this.verdictTotals.get(action) ?? 0) + 1);
  }

  /** Verdicts since start: phase (by PhaseSpec.index) → deciding module → count per reply code class (index 2 = 2xx). */
  private readonly verdictTallies: Map<string, number[]>[] = [];

  fault(phase: PhaseName, module: string): void {
    this.faults.inc({ phase, module });
  }

  /** Counts the deliveries a sink refuses (the error still reaches the session). */
  countSinkErrors(sink: Sink): Sink {
    const errors = this.sinkErrors;
    return {
      type: sink.type,
      async deliver(message) {
        try {
          return await sink.deliver(message);
        } catch (err) {
          errors.inc({ sink: sink.type });
          throw err;
        }
      },
      close: () => sink.close(),
    };
  }
}
