import type { Logger } from '../log.ts';
import { drive, type DriveOptions, type Spent } from '../lua/async-call.ts';
import { ScriptFault } from '../lua/errors.ts';
import { lauxlib, lua, type LuaState } from '../lua/fengari.ts';
import type { SourceReader } from '../lua/sources.ts';
import type { Budget, LuaVm } from '../lua/vm.ts';
import { findMissingBuiltins, missingBuiltinMessage } from '../msys/builtins.ts';
import type { CompatHost, RunningCallout } from '../msys/compat-host.ts';
import { RECOGNISED_NOT_RUN } from './phases.ts';

/** Finished threads kept for reuse: making one costs more than a small callout. */
const MAX_IDLE_THREADS = 64;

/** What the callouts of one phase share: budget spent, phase time limit, host binding. */
export interface CallContext extends DriveOptions {
  readonly spent: Spent;
}

/**
 * Runs callouts on Lua threads so they can suspend on asynchronous host calls
 * (lua/async-call.ts). Threads that finished cleanly are reused; a thread that
 * faulted is dead and dropped.
 */
export class PhaseRunner {
  private readonly idle: LuaState[] = [];

  constructor(
    private readonly vm: LuaVm,
    private readonly compat: CompatHost,
    private readonly budget: Budget,
  ) {}

  /**
   * Pushes (function, args) with `push` onto a thread and runs it; gives its
   * first result if a number. Synchronous unless the function waited.
   */
  call(push: (co: LuaState) => number, ctx: CallContext): number | undefined | Promise<number | undefined> {
    const co = this.thread();
    return this.run(co, push(co), ctx);
  }

  /** A thread to push a function and its arguments on, for run(). */
  thread(): LuaState {
    return this.idle.pop() ?? this.newThread();
  }

  /** Runs the function and `nargs` arguments on `co` (from thread()); gives its first result if a number. */
  run(co: LuaState, nargs: number, ctx: CallContext): number | undefined | Promise<number | undefined> {
    return drive(this.vm, this.compat.calls, co, nargs, ctx, ctx.spent, this.finish);
  }

  /** The callout's first result if a number; the thread goes back to the idle ones. */
  private readonly finish = (co: LuaState, n: number): number | undefined => {
    const value = n > 0 && lua.lua_type(co, 1) === lua.LUA_TNUMBER ? (lua.lua_tonumber(co, 1) as number) : undefined;
    lua.lua_settop(co, 0);
    if (this.idle.length < MAX_IDLE_THREADS) this.idle.push(co);
    return value;
  };

  /**
   * Starts fire-and-forget runInPool jobs once their phase is over. Each runs
   * under a budget of its own; a fault is logged, never reported to the session.
   */
  startDeferred(running: RunningCallout, bindFor: (r: RunningCallout) => () => void, unbind: () => void, log: () => Logger): void {
    // Read now: the session's next phase reuses `running`.
    const phase = running.phase;
    for (const ref of running.deferred.splice(0)) {
      const job: RunningCallout = { objects: running.objects, phase: 'pool', deferred: [] };
      const ctx: CallContext = {
        budget: this.budget,
        timeoutMs: this.compat.services.phaseTimeoutMs,
        spent: { instructions: 0, luaMs: 0 },
        bind: bindFor(job),
        unbind,
      };
      void Promise.resolve()
        .then(() =>
          this.call((co) => {
            lua.lua_rawgeti(co, lua.LUA_REGISTRYINDEX, ref);
            lauxlib.luaL_unref(co, lua.LUA_REGISTRYINDEX, ref);
            return 0;
          }, ctx),
        )
        .then(() => this.startDeferred(job, bindFor, unbind, log))
        .catch((err: unknown) => {
          const message = err instanceof ScriptFault ? err.luaMessage : String(err);
          log().error({ phase, fault: err instanceof ScriptFault ? err.kind : 'host' }, `runInPool job error: ${message}`);
        });
    }
  }

  private newThread(): LuaState {
    const L = this.vm.L;
    // Inherits the main thread's count hook, so the budget applies on it too.
    const co = lua.lua_newthread(L) as LuaState;
    lua.lua_pop(L, 1);
    return co;
  }
}

/** Throws one load fault naming every Momentum built-in any script requires that moonwatch lacks. */
export function checkBuiltins(sources: SourceReader, modules: readonly string[]): void {
  const missing = findMissingBuiltins(sources, modules);
  if (missing.length === 0) return;
  const lines = missing.map((m) => `${m.file}:${m.line}: ${missingBuiltinMessage(m.name)}`);
  const first = missing[0]!;
  throw new ScriptFault('load', `${lines.length === 1 ? lines[0] : `scripts need Momentum built-ins that moonwatch does not provide:\n  ${lines.join('\n  ')}`}`, {
    position: { script: first.file, line: first.line },
  });
}

/** Hooks a module defines that this host recognises but never reaches (delivery side): said once per generation. */
export function logUnrunHooks(logger: Logger, generation: number, modules: readonly { name: string; callouts: ReadonlyMap<string, unknown> }[]): void {
  const found: string[] = [];
  for (const m of modules) for (const hook of RECOGNISED_NOT_RUN) if (m.callouts.has(hook)) found.push(`${m.name}:${hook}`);
  if (found.length > 0) {
    logger.info({ generation, hooks: found }, `hooks that moonwatch recognises but never runs (delivery side): ${found.join(', ')}`);
  }
}
