/**
 * Builds what a fixture's `policy:` names — store and engine — on the
 * fixture's own clock and logger. Each fixture gets fresh ones, so nothing
 * leaks between fixtures: not counters, not Lua state, not time.
 */
import { fixtureCompatServices } from './fixture-dns.ts';
import { AuditStore, type AuditStoreOptions } from '../audit/store.ts';
import type { Clock } from '../clock.ts';
import { loadConfigFile } from '../config/load.ts';
import { DEFAULT_BUDGETS, DEFAULT_LIMITS, engineOptionsFrom, storeOptionsFrom, type LimitsConfig, type MoonwatchConfig } from '../config/schema.ts';
import { errorMessage, isMoonwatchError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { createEngine, type Engine } from '../policy/engine.ts';
import type { EngineOptions } from '../policy/engine-options.ts';
import { FixturePolicyError } from './errors.ts';
import type { PolicySpec } from './fixture.ts';

/** Monitors for a fixture that names scripts without monitors. */
export const DEFAULT_MONITORS: readonly string[] = ['60,10', '300,6', '1800,4'];
export const DEFAULT_HOSTNAME = 'mx.moonwatch.test';
/**
 * The wall-clock part of the script budget is real time, and real time must
 * not decide a fixture's result (a GC pause on a busy CI machine would turn a
 * pass into a 451). The instruction budget, which is deterministic, applies
 * as configured; the wall-clock deadline is raised to at least this.
 */
export const MIN_WALL_MS = 2000;

export interface BuiltPolicy {
  readonly engine: Engine;
  readonly store: AuditStore;
  readonly hostname: string;
  /** The greeting's banner and the SMTP limits the dialogue enforces: the config's, or the defaults. */
  readonly banner: string;
  readonly limits: LimitsConfig;
}

export interface PolicyDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Replaces the scripts directory the fixture names (mutation testing runs a mutated copy). */
  readonly scriptsDir?: string;
}

export async function buildPolicy(spec: PolicySpec, deps: PolicyDeps): Promise<BuiltPolicy> {
  const { storeOptions, engineOptions, smtp } = options(spec, deps);
  let store: AuditStore;
  try {
    store = new AuditStore(storeOptions);
  } catch (err) {
    throw new FixturePolicyError(spec.pos, `policy: ${errorMessage(err)}`, { cause: err });
  }
  const configured = engineOptions(store);
  const opts = {
    ...configured,
    budget: { ...configured.budget, wallMs: Math.max(configured.budget.wallMs, MIN_WALL_MS) },
    // DNS answers come from the fixture and msys.sleep moves virtual time: fixtures stay deterministic.
    compat: fixtureCompatServices(spec.dns, deps.clock),
  };
  try {
    const engine = await createEngine(opts);
    return { engine, store, hostname: opts.hostname ?? DEFAULT_HOSTNAME, banner: smtp?.banner ?? DEFAULT_BANNER, limits: smtp?.limits ?? DEFAULT_LIMITS };
  } catch (err) {
    const what = isMoonwatchError(err, 'MW_ERR_SCRIPT_LOAD') ? 'the policy scripts do not load' : 'the policy cannot start';
    throw new FixturePolicyError(spec.pos, `${what}: ${errorMessage(err)}`, { cause: err });
  }
}

interface PolicyOptions {
  readonly storeOptions: AuditStoreOptions;
  readonly engineOptions: (store: AuditStore) => EngineOptions;
  /** From the config, when the fixture names one. */
  readonly smtp?: Pick<MoonwatchConfig, 'banner' | 'limits'>;
}

/** The greeting banner when no config gives one (the config's own default). */
export const DEFAULT_BANNER = 'moonwatch';

function options(spec: PolicySpec, deps: PolicyDeps): PolicyOptions {
  const { clock, logger } = deps;
  if (spec.config === undefined) {
    return {
      storeOptions: { clock, logger, monitors: spec.monitors ?? DEFAULT_MONITORS },
      engineOptions: (store) => ({
        clock,
        logger,
        store,
        scripts: { dir: deps.scriptsDir ?? spec.scripts!, modules: spec.modules ?? [], ...(spec.sieve === undefined ? {} : { sieve: spec.sieve }) },
        budget: spec.budget ?? { ...DEFAULT_BUDGETS },
        receptionUnit: spec.receptionUnit ?? 'recipient',
        hostname: spec.hostname ?? DEFAULT_HOSTNAME,
      }),
    };
  }
  let cfg: MoonwatchConfig;
  try {
    cfg = loadConfigFile(spec.config);
  } catch (err) {
    throw new FixturePolicyError(spec.pos, `policy.config: ${errorMessage(err)}`, { cause: err });
  }
  const storeOptions = storeOptionsFrom(cfg, { clock, logger });
  return {
    smtp: cfg,
    storeOptions: spec.monitors === undefined ? storeOptions : { ...storeOptions, monitors: spec.monitors },
    engineOptions: (store) => {
      const base = engineOptionsFrom(cfg, { clock, logger, store });
      return {
        ...base,
        scripts: {
          ...base.scripts,
          dir: deps.scriptsDir ?? base.scripts.dir,
          ...(spec.modules === undefined ? {} : { modules: spec.modules }),
          ...(spec.sieve === undefined ? {} : { sieve: spec.sieve }),
        },
        ...(spec.budget === undefined ? {} : { budget: spec.budget }),
        ...(spec.receptionUnit === undefined ? {} : { receptionUnit: spec.receptionUnit }),
        ...(spec.hostname === undefined ? {} : { hostname: spec.hostname }),
      };
    },
  };
}
