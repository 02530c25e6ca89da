import type { AuditStore } from '../audit/store.ts';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import { lua, type LuaState } from '../lua/fengari.ts';
import { ScriptFault } from '../lua/errors.ts';
import { scriptFile, type SourceReader } from '../lua/sources.ts';
import { LuaVm, type Budget } from '../lua/vm.ts';
import { holdTop, pushHeld, type HeldValue } from '../lua/vm-internals.ts';
import { AuditReadLog, type AuditRead } from '../msys/audit-reads.ts';
import type { MsysHost, Registration } from '../msys/host.ts';
import { LuaContextError } from '../msys/errors.ts';
import { SessionObjects } from '../msys/session-objects.ts';
import type { SessionState } from '../msys/session-state.ts';
import type { MsysTypes } from '../msys/types.ts';
import { isUsableMethod, PHASES, type PhaseSpec } from './phases.ts';
import type { SieveScriptsOptions } from '../sieve/config.ts';
import { SievePhases } from '../sieve/policy.ts';
import { DEFAULT_MAX_RETAINED_BYTES, RetentionMeter } from './retention.ts';
import type { CompatHost } from '../msys/compat-host.ts';
import { compatServicesOrDefault, type CompatServices } from '../msys/compat-services.ts';
import { installHostLibraries } from '../msys/install-compat.ts';
import { checkBuiltins, logUnrunHooks, PhaseRunner, type CallContext } from './phase-runner.ts';
import type { RunningCallout } from '../msys/compat-host.ts';

export interface GenerationOptions {
  readonly id: number;
  readonly sources: SourceReader;
  /** Configured script sources in stanza order. */
  readonly modules: readonly string[];
  /** Content hash of the sources, to skip rebuilding unchanged scripts. */
  readonly hash: string;
  readonly store: AuditStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly budget: Budget;
  readonly allowIo?: boolean;
  readonly compatConnectionAlias?: boolean;
  readonly warnOnce: (key: string, message: string) => void;
  /** Sieve scripts per phase (docs/sieve.md), compiled with the Lua modules. */
  readonly sieve?: SieveScriptsOptions;
  /** What the generation may retain across sessions before it is retired and rebuilt (src/policy/retention.ts). */
  readonly maxRetainedBytes?: number;
  /** DNS, sleep, phase time limit and inject sink of the compatibility packages (default: real ones). */
  readonly compat?: CompatServices;
  /** The scripts directory (relative msys.cidr sources resolve against it). */
  readonly baseDir?: string;
}

/** A registered module with the callouts it defines, as function refs. */
interface LoadedModule {
  readonly name: string;
  readonly script: string;
  readonly tableRef: number;
  /** The module table, held for pushing (validate_set_binding's self). */
  readonly table: HeldValue;
  /** callout name → the function, held (lua/vm-internals.ts). */
  readonly callouts: Map<string, HeldValue>;
  /** The same functions by phase index (PhaseSpec.index). */
  readonly byPhase: (HeldValue | undefined)[];
}

/** Per-session Lua state in this generation: the objects and each module's `self`. */
export interface LuaSession {
  readonly objects: SessionObjects;
  /** Module index → its `self` table for this connection, held. */
  readonly selves: (HeldValue | undefined)[];
  /** Modules that ran a callout in this session (only they get validate_dealloc). */
  readonly ran: boolean[];
  /** The session's logger; a function, because the session makes it on first use. */
  readonly log: () => Logger;
  /** The module whose callout set the reply of the last phase (vctx:set_code, disconnect, tarpit). */
  decidedBy: string | undefined;
  /** The session's phase state, made at its first phase that has callouts. */
  run: PhaseRun | undefined;
}

/**
 * The phase a session is running: made once per session and reused by every
 * phase (a session runs one phase at a time), so starting a phase allocates
 * nothing but what the scripts do.
 */
class PhaseRun {
  phase!: PhaseSpec;
  str: string | undefined;
  order: readonly number[] = [];
  /** What the compatibility functions see while this session's callouts run. */
  readonly running: RunningCallout;
  readonly ctx: CallContext;
  /** The disposition before the running callout: a change names the module that decided. */
  private code: unknown;
  private text: unknown;
  private disconnect: unknown;
  private tarpit: unknown;

  constructor(
    readonly session: LuaSession,
    bind: () => void,
    unbind: () => void,
    budget: Budget,
    timeoutMs: number,
  ) {
    this.running = { objects: session.objects, phase: '', deferred: [] };
    this.ctx = { budget, timeoutMs, spent: { instructions: 0, luaMs: 0 }, bind, unbind };
  }

  /** Notes the disposition before a callout runs. */
  mark(): void {
    const d = this.session.objects.state.disposition;
    this.code = d.code;
    this.text = d.text;
    this.disconnect = d.disconnect;
    this.tarpit = d.tarpitSeconds;
  }

  /** Whether the callout since mark() set a reply, a disconnect or a tarpit. */
  changed(): boolean {
    const d = this.session.objects.state.disposition;
    return d.code !== this.code || d.text !== this.text || d.disconnect !== this.disconnect || d.tarpitSeconds !== this.tarpit;
  }
}

/** What running one callout produced. */
export type CalloutResult = { kind: 'cont' } | { kind: 'done' } | { kind: 'fault'; fault: ScriptFault; module: string };

/**
 * One script generation: every configured script compiled in a fresh VM, init
 * run, registrations checked. Sessions pin a generation at connect; a reload
 * builds a new one and the old one is closed when its last session ends.
 */
export class Generation {
  readonly id: number;
  readonly hash: string;
  readonly scripts: readonly string[];
  sessions = 0;
  private readonly vm: LuaVm;
  private readonly host: MsysHost;
  private readonly types: MsysTypes;
  private readonly modules: LoadedModule[] = [];
  /** Phase index → the modules (positions in `modules`) that define its callout, in order. */
  private readonly phaseModules: (readonly number[])[] = PHASES.map(() => []);
  /** One false per module: each session's `ran` starts as a copy. */
  private noneRan: boolean[] = [];
  /** Phase index → whether any Lua module or Sieve script takes part. */
  private readonly phaseActive: boolean[] = PHASES.map(() => false);
  /** Where print() goes: the running session's logger, else the generation's. */
  private printLog: () => Logger;
  private readonly generationLog: () => Logger;
  private closed = false;
  /** registerModule calls made while the scripts load; afterwards registering is refused. */
  private readonly registrations: Registration[] = [];
  private loading = true;
  /** This generation's Sieve scripts; they run after the Lua modules of each phase. */
  private sieve: SievePhases | undefined;
  /** Audit reads of the running phase, to explain a decision (see msys/audit-reads.ts). */
  private readonly reads = new AuditReadLog();
  private readonly retention: RetentionMeter;
  private readonly compat: CompatHost;
  private readonly runner: PhaseRunner;

  /** Builds and initialises a generation; throws ScriptFault (kind 'load') on any failure. */
  static build(opts: GenerationOptions): Generation {
    const gen = new Generation(opts);
    try {
      gen.load(opts);
    } catch (err) {
      gen.vm.close();
      throw err;
    }
    return gen;
  }

  private constructor(private readonly opts: GenerationOptions) {
    this.id = opts.id;
    this.hash = opts.hash;
    this.scripts = opts.modules;
    this.generationLog = () => opts.logger;
    this.printLog = this.generationLog;
    this.vm = new LuaVm({
      sources: opts.sources,
      logger: opts.logger,
      budget: opts.budget,
      allowIo: opts.allowIo ?? false,
      // os.time()/os.date() follow the injected clock, so fixtures on a virtual clock agree.
      clock: opts.clock,
      // print goes to the logger of whichever session is running (spec §12.4).
      // A session's logger already carries the generation: naming it twice would write the key twice.
      onPrint: (text) => this.printLog().info(this.printLog === this.generationLog ? { script_print: true, generation: this.id } : PRINT_FIELDS, text),
    });
    this.host = {
      store: opts.store,
      clock: opts.clock,
      logger: opts.logger,
      session: null,
      register: (reg) => {
        // A callout registering modules per session would grow the generation without bound.
        if (!this.loading) throw new LuaContextError('msys.registerModule can only be called while the scripts load');
        this.registrations.push(reg);
      },
      warnOnce: opts.warnOnce,
      compatConnectionAlias: opts.compatConnectionAlias ?? false,
      reads: this.reads,
    };
    this.retention = new RetentionMeter(opts.maxRetainedBytes ?? DEFAULT_MAX_RETAINED_BYTES, (limit) => this.vm.retainedBytes(limit));
    const libraries = installHostLibraries(this.vm, this.host, {
      services: compatServicesOrDefault(opts.compat, opts.clock),
      baseDir: opts.baseDir ?? '.',
      logger: opts.logger,
    });
    this.types = libraries.types;
    this.compat = libraries.compat;
    this.runner = new PhaseRunner(this.vm, this.compat, opts.budget);
    // Libraries, msys and the string metatable are read-only from here on (issue 16).
    this.vm.seal();
  }

  private load(opts: GenerationOptions): void {
    if (opts.sieve) this.sieve = SievePhases.compile(opts.sieve, opts.sources, { store: opts.store, clock: opts.clock, warnOnce: opts.warnOnce });
    const L = this.vm.L;
    const byName = new Map<string, number>();
    // Every missing Momentum built-in of every script at once, before the first require stops at one.
    checkBuiltins(opts.sources, opts.modules);
    for (const script of opts.modules) {
      const before = this.registrations.length;
      try {
        this.vm.requireModule(script, opts.budget);
      } catch (err) {
        // An error while a script's top level runs fails the build like a syntax error.
        throw err instanceof ScriptFault && err.kind !== 'load' ? asLoadFault(err, scriptFile(script)) : err;
      }
      const added = this.registrations.slice(before);
      if (added.length === 0) {
        throw loadFault(`script '${script}' did not call msys.registerModule`, script);
      }
      for (const reg of added) {
        const usable = reg.methods.filter(isUsableMethod);
        if (usable.length === 0) {
          throw loadFault(`no usable methods found for module ${reg.name} in registerModule call`, script);
        }
        // The module table stays in the registry (its ref from registerModule); the functions
        // it had at registration are held, so a later change to the table does not move them.
        const callouts = new Map<string, HeldValue>();
        lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, reg.ref);
        const table = holdTop(L);
        for (const method of usable) {
          lua.lua_getfield(L, -1, method);
          callouts.set(method, holdTop(L));
          lua.lua_pop(L, 1);
        }
        lua.lua_pop(L, 1);
        const module: LoadedModule = { name: reg.name, script: scriptFile(script), tableRef: reg.ref, table, callouts, byPhase: PHASES.map((p) => callouts.get(p.callout)) };
        // A later registration under an existing name replaces the earlier one (spec §1.3).
        const existing = byName.get(reg.name);
        if (existing !== undefined) {
          opts.logger.warn({ module: reg.name, script }, 'module registered twice; the later registration replaces the earlier');
          this.modules[existing] = module;
        } else {
          byName.set(reg.name, this.modules.length);
          this.modules.push(module);
        }
      }
    }
    for (const phase of PHASES) {
      const idx = this.modules.flatMap((m, i) => (m.byPhase[phase.index] !== undefined ? [i] : []));
      this.phaseModules[phase.index] = idx;
      this.phaseActive[phase.index] = idx.length > 0 || this.sieve?.has(phase.name) === true;
    }
    this.noneRan = this.modules.map(() => false);
    this.loading = false;
    logUnrunHooks(opts.logger, this.id, this.modules);
    this.runLifecycle('init', true);
  }

  /** Runs init (must return true) or deinit on every module that defines it. */
  private runLifecycle(method: 'init' | 'deinit', strict: boolean): void {
    const L = this.vm.L;
    for (const m of this.modules) {
      const fn = m.callouts.get(method);
      if (fn === undefined) continue;
      pushHeld(L, fn);
      pushHeld(L, m.table); // self = the module table
      try {
        this.vm.call(1, 1, this.opts.budget);
      } catch (err) {
        if (!strict) {
          this.opts.logger.error({ module: m.name, err }, `${method} failed`);
          continue;
        }
        throw err instanceof ScriptFault ? asLoadFault(err, `${m.name}:${method}`) : err;
      }
      const ok = lua.lua_toboolean(L, -1) && lua.lua_type(L, -1) === lua.LUA_TBOOLEAN;
      const shown = lua.lua_type(L, -1) === lua.LUA_TNIL ? 'nil' : String(lua.lua_tojsstring(L, -1) ?? lua.lua_typename(L, lua.lua_type(L, -1)));
      lua.lua_pop(L, 1);
      if (strict && !ok) throw loadFault(`${m.name}:init returned ${shown}, expected true`, m.script);
    }
  }

  openSession(state: SessionState, log: () => Logger): LuaSession {
    this.sessions++;
    return {
      objects: new SessionObjects(this.types, state),
      selves: new Array(this.modules.length),
      // A copy of a packed array: Array.prototype.fill runs in the runtime, not in generated code.
      ran: this.noneRan.slice(),
      log,
      decidedBy: undefined,
      run: undefined,
    };
  }

  /** Whether any module defines the phase's callout (a phase without one costs nothing). */
  hasCallouts(phase: PhaseSpec): boolean {
    return this.phaseActive[phase.index]!;
  }

  /** What the scripts read from the audit store during the last phase (allocates: for logging a decision). */
  phaseReads(): AuditRead[] {
    return this.reads.entries();
  }

  /**
   * Runs the phase's callout of every module in order until one returns DONE
   * or faults, then the phase's Sieve scripts. Each callout runs on a Lua
   * thread and can suspend on an asynchronous host call (msys.dnsLookup,
   * msys.sleep, msys.runInPool, msg:inject) while other sessions run; the
   * result is synchronous unless one did. Instructions are budgeted per
   * callout; Lua running time over the phase; the phase as a whole, waits
   * included, ends at phaseTimeoutMs (a wait past it answers nil, "TIMEOUT").
   */
  runPhase(session: LuaSession, phase: PhaseSpec, str?: string): CalloutResult | Promise<CalloutResult> {
    const order = this.phaseModules[phase.index]!;
    this.reads.reset();
    session.decidedBy = undefined;
    if (order.length === 0) return this.runSieve(session, phase);
    const run = (session.run ??= new PhaseRun(session, this.bindFor(session, null), this.unbind, this.opts.budget, this.compat.services.phaseTimeoutMs));
    run.phase = phase;
    run.str = str;
    run.order = order;
    run.running.phase = phase.name;
    run.ctx.spent.luaMs = 0;
    run.ctx.deadline = undefined;
    // A phase that waited starts its deferred jobs at its end, inside its own chain (continuePhase).
    return this.ended(run, this.continuePhase(run, 0));
  }

  /** Deferred runInPool jobs start once the phase is over, however it ended; a phase still waiting is not over. */
  private ended(run: PhaseRun, result: CalloutResult | Promise<CalloutResult>): CalloutResult | Promise<CalloutResult> {
    if (!(result instanceof Promise)) this.startDeferred(run);
    return result;
  }

  /** Binds the host to the session around every resume; `r` is what the compatibility functions see (null: the session's phase). */
  private bindFor(session: LuaSession, r: RunningCallout | null): () => void {
    return () => {
      this.host.session = session.objects.state;
      this.printLog = session.log;
      this.compat.current = r ?? session.run!.running;
    };
  }

  private startDeferred(run: PhaseRun): void {
    if (run.running.deferred.length === 0) return;
    this.runner.startDeferred(run.running, (r) => this.bindFor(run.session, r), this.unbind, run.session.log);
  }

  private readonly unbind = (): void => {
    this.host.session = null;
    this.printLog = this.generationLog;
    this.compat.current = null;
  };

  /** Runs the phase's callouts from position k; goes asynchronous only at the first callout that waits. */
  private continuePhase(run: PhaseRun, k: number): CalloutResult | Promise<CalloutResult> {
    const { session, phase, order } = run;
    for (; k < order.length; k++) {
      const i = order[k]!;
      const m = this.modules[i]!;
      if (phase.name === 'dealloc' && !session.ran[i]) continue;
      session.ran[i] = true;
      run.ctx.spent.instructions = 0; // instructions are budgeted per callout
      run.mark();
      let value: number | undefined | Promise<number | undefined>;
      try {
        const co = this.runner.thread();
        pushHeld(co, m.byPhase[phase.index]!);
        // Callouts without a vctx (validate_set_binding) get the module table as self (spec §2.4).
        if (phase.selfIsModule) pushHeld(co, m.table);
        else this.pushSelf(co, session, i);
        for (const arg of phase.args) this.pushArg(co, session, arg, run.str);
        value = this.runner.run(co, phase.args.length + 1, run.ctx);
      } catch (err) {
        this.retention.note(this.vm.lastCallBytes);
        if (err instanceof ScriptFault) return { kind: 'fault', fault: err, module: m.name };
        throw err;
      }
      if (value instanceof Promise) {
        const next = k + 1;
        // One promise per wait: the rest of the phase, and its end, run in its handlers.
        return value.then(
          (v) => {
            let r: CalloutResult | Promise<CalloutResult>;
            try {
              r = this.afterCallout(run, m, v) ?? this.continuePhase(run, next);
            } catch (err) {
              this.startDeferred(run);
              throw err;
            }
            return this.ended(run, r);
          },
          (err: unknown) => {
            this.startDeferred(run);
            if (err instanceof ScriptFault) return { kind: 'fault', fault: err, module: m.name } as CalloutResult;
            throw err;
          },
        );
      }
      const stop = this.afterCallout(run, m, value);
      if (stop !== undefined) return stop;
    }
    // Sieve scripts run after the phase's Lua modules (docs/sieve.md).
    return this.runSieve(session, phase);
  }

  private runSieve(session: LuaSession, phase: PhaseSpec): CalloutResult {
    return this.sieve?.run(session.objects.state, phase.name, session.log) ?? CONT;
  }

  /** DONE stops the phase; a missing return is logged as Momentum does and counts as CONT. */
  private afterCallout(run: PhaseRun, m: LoadedModule, value: number | undefined): CalloutResult | undefined {
    this.retention.note(this.vm.lastCallBytes);
    if (run.changed()) run.session.decidedBy = m.name;
    if (value === undefined && run.phase.name !== 'dealloc') {
      run.session.log().warn({ module: m.name, script: m.script, phase: run.phase.name }, `${run.phase.callout} error: (null)`);
    }
    return value === 1 ? DONE : undefined;
  }

  /** True once the generation retains more than its bound: the engine retires it and rebuilds. */
  get overRetained(): boolean {
    return this.retention.exceeded;
  }

  /** Bytes retained at the last measurement, and the bound. */
  get retained(): { bytes: number; limit: number } {
    return { bytes: this.retention.lastMeasured, limit: this.retention.limit };
  }

  /** The script sources this generation was built from, to rebuild it from the same scripts. */
  get sources(): SourceReader {
    return this.opts.sources;
  }

  /** Frees the session's Lua objects; the generation closes once retired and idle. */
  closeSession(session: LuaSession): void {
    session.objects.release();
    session.selves.fill(undefined);
    this.sessions--;
  }

  /** Runs deinit and closes the VM. Called once the generation is retired and has no sessions. */
  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    this.runLifecycle('deinit', false);
    this.vm.close();
  }

  private pushSelf(L: LuaState, session: LuaSession, i: number): void {
    const self = session.selves[i];
    if (self !== undefined) {
      pushHeld(L, self);
      return;
    }
    // One plain table per (module, connection), no metatable (spec §2.4).
    lua.lua_createtable(L, 0, 0);
    session.selves[i] = holdTop(L);
  }

  private pushArg(L: LuaState, session: LuaSession, arg: PhaseSpec['args'][number], str: string | undefined): void {
    switch (arg) {
      case 'ac':
        session.objects.pushAc(L);
        return;
      case 'vctx':
        session.objects.pushVctx(L);
        return;
      case 'msg':
        session.objects.pushMsg(L);
        return;
      case 'str':
        this.types.ecString.push(L, { text: str ?? '' });
        return;
      case 'rcpts': {
        // validate_rcptto_list(_final)'s list node: the recipients as a Lua array (its C type is undocumented).
        const rcpts = session.objects.state.message?.recipients ?? [];
        lua.lua_createtable(L, rcpts.length, 0);
        rcpts.forEach((r, k) => {
          lua.lua_pushliteral(L, r);
          lua.lua_rawseti(L, -2, k + 1);
        });
        return;
      }
    }
  }
}

const PRINT_FIELDS = Object.freeze({ script_print: true });
const CONT: CalloutResult = { kind: 'cont' };
const DONE: CalloutResult = { kind: 'done' };

function loadFault(message: string, script: string): ScriptFault {
  return new ScriptFault('load', `${scriptFile(script)}: ${message}`);
}

/** An init that failed at run time fails the build: same position, kind 'load'. */
function asLoadFault(err: ScriptFault, where: string): ScriptFault {
  const message = err.script === undefined ? `${where}: ${err.luaMessage}` : err.luaMessage.replace(/^(.*?:\d+:)\s*/, `$1 ${where}: `);
  return new ScriptFault('load', message, { cause: err });
}
