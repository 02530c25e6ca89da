import type { SievePhase } from '../../src/sieve/config.ts';
import type { RuntimeErrorMode } from '../../src/sieve/evaluator.ts';
import type { Verdict } from '../../src/policy/verdict.ts';
import { testEngine, type TestEngine } from '../helpers/engine.ts';

export interface SieveEngineOptions {
  /** Lua modules (file → source) loaded before the Sieve scripts. */
  lua?: Record<string, string>;
  monitors?: string[];
  runtimeError?: RuntimeErrorMode;
  start?: number;
}

/** A real engine whose `phase` runs the given Sieve sources (files p0.siv, p1.siv …), in order. */
export async function sieveEngine(phases: Partial<Record<SievePhase, string[]>>, opts: SieveEngineOptions = {}): Promise<TestEngine> {
  const scripts: Record<string, string> = { ...(opts.lua ?? {}) };
  const files: Partial<Record<SievePhase, string[]>> = {};
  let n = 0;
  for (const [phase, sources] of Object.entries(phases) as [SievePhase, string[]][]) {
    files[phase] = sources.map((src) => {
      const f = `p${n++}.siv`;
      scripts[f] = src;
      return f;
    });
  }
  return testEngine({
    scripts,
    modules: Object.keys(opts.lua ?? {}).map((f) => f.replace(/\.lua$/, '')),
    ...(opts.monitors ? { monitors: opts.monitors } : { monitors: ['60,10', '300,6', '1800,4'] }),
    ...(opts.start === undefined ? {} : { start: opts.start }),
    scriptOptions: { sieve: { phases: files, runtimeError: opts.runtimeError ?? 'fail' } },
  });
}

/** Opens a session from `from`, runs connect, closes it; the verdict is what the script decided. */
export async function connect(t: TestEngine, from: string, listener = '127.0.0.1:25'): Promise<Verdict> {
  const s = t.engine.openSession({ remote: { address: from, port: 40000 }, listener });
  try {
    return await s.connect();
  } finally {
    s.close('quit');
  }
}

/** Runs `body` at connect and returns the text of `ec_action 550 "<reply>"` that it ends with. */
export async function evalText(body: string, from = '203.0.113.7', setup?: (t: TestEngine) => void, opts: SieveEngineOptions = {}): Promise<string | undefined> {
  const t = await sieveEngine({ connect: [body] }, opts);
  setup?.(t);
  const v = await connect(t, from);
  return v.text;
}
