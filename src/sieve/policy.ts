import type { Logger } from '../log.ts';
import { ScriptFault } from '../lua/errors.ts';
import type { SourceReader } from '../lua/sources.ts';
import type { SessionState } from '../msys/session-state.ts';
import { SIEVE_PHASES, type SievePhase, type SieveScriptsOptions } from './config.ts';
import { SieveParseError } from './errors.ts';
import { compileBlock, type Exec } from './evaluator.ts';
import { parseSieve } from './parser.ts';
import { Run, type SieveEnv } from './values.ts';

interface CompiledScript {
  readonly file: string;
  readonly exec: Exec;
}

/** What running a phase's Sieve scripts produced (the same shape as a Lua callout's result). */
export type SieveResult = { kind: 'cont' } | { kind: 'done' } | { kind: 'fault'; fault: ScriptFault; module: string };

const CONT: SieveResult = { kind: 'cont' };
const DONE: SieveResult = { kind: 'done' };

/**
 * The Sieve scripts of one generation, parsed and checked when the generation
 * is built (a parse error fails the build with file:line:col, so a broken
 * save keeps the live generation) and run per phase after the Lua modules.
 */
export class SievePhases {
  private readonly byPhase = new Map<string, CompiledScript[]>();

  /** Throws ScriptFault (kind 'load') naming file:line:col on any parse or check error. */
  static compile(opts: SieveScriptsOptions, sources: SourceReader, env: SieveEnv): SievePhases {
    const set = new SievePhases(env);
    const cache = new Map<string, string>();
    for (const [phase, files] of Object.entries(opts.phases) as [SievePhase, readonly string[]][]) {
      const list: CompiledScript[] = [];
      for (const file of files) {
        let src = cache.get(file);
        if (src === undefined) {
          src = sources(file);
          if (src === undefined) throw new ScriptFault('load', `${file}: Sieve script not found under the scripts directory`, { position: { script: file, line: 1 } });
          cache.set(file, src);
        }
        try {
          list.push({ file, exec: compileBlock(parseSieve(file, src), { file, phase, onError: opts.runtimeError }) });
        } catch (err) {
          if (err instanceof SieveParseError) {
            throw new ScriptFault('load', err.message, { cause: err, position: { script: err.file, line: err.line } });
          }
          throw err;
        }
      }
      if (list.length > 0) set.byPhase.set(phase, list);
    }
    return set;
  }

  private constructor(private readonly env: SieveEnv) {}

  /** `phase` is the policy layer's phase name; dealloc and unknown names have no scripts. */
  has(phase: string): boolean {
    return this.byPhase.has(phase);
  }

  /** Runs the phase's scripts in order until one takes a terminal action or faults. */
  run(state: SessionState, phase: string, log: () => Logger): SieveResult {
    const scripts = this.byPhase.get(phase);
    if (scripts === undefined || !isSievePhase(phase)) return CONT;
    for (const s of scripts) {
      const rt = new Run(this.env, state, phase, s.file, log);
      try {
        s.exec(rt);
      } catch (err) {
        // Any failure of a script is a fault of the phase, never of the process.
        const text = (err as Error).message ?? String(err);
        const message = text.startsWith(`${s.file}:`) ? text : `${s.file}: ${text}`;
        const m = /^[^:]+:(\d+):/.exec(message);
        return {
          kind: 'fault',
          fault: new ScriptFault('runtime', message, { cause: err, position: { script: s.file, line: m ? Number(m[1]) : 0 } }),
          module: s.file,
        };
      }
      if (rt.terminal) return DONE;
    }
    return CONT;
  }
}

function isSievePhase(name: string): name is SievePhase {
  return (SIEVE_PHASES as readonly string[]).includes(name);
}
