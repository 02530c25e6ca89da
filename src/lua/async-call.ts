import { monotonicMs } from '../clock.ts';
import { errorMessage } from '../errors.ts';
import { ScriptFault } from './errors.ts';
import { lauxlib, lua, type LuaState } from './fengari.ts';
import type { Budget, LuaVm } from './vm.ts';

/**
 * Asynchronous host calls (msys.dnsLookup, msys.sleep, msys.runInPool).
 *
 * A phase callout runs in its own Lua thread. A host function that has to
 * wait starts the work, files its promise here and yields (SUSPEND, id) out of
 * the thread; the driver (drive()) sees the sentinel, awaits the promise while
 * the event loop serves other sessions, pushes the answer onto the thread and
 * resumes it, so to the script the host function simply returned. Lua's own
 * coroutines are wrapped (lua/async.lua) so a wait inside one is passed up.
 */

/** Pushes a host call's results onto the resumed thread; returns how many. */
export type Answer = (L: LuaState) => number;

/** A host call gave up: the script sees `nil, code` (e.g. "TIMEOUT", "SERVFAIL"). */
export function failure(code: string): Answer {
  return (L) => {
    lua.lua_pushnil(L);
    lua.lua_pushliteral(L, code);
    return 2;
  };
}

export const TIMEOUT: Answer = failure('TIMEOUT');

export class AsyncCalls {
  /**
   * The request of the host call that suspended last, until the driver takes
   * it. A suspending host call yields at once and the driver takes its request
   * as soon as the resume returns, so there is never more than one.
   */
  private requested: Promise<Answer> | undefined;
  private readonly sentinelRef: number;
  private readonly sentinel: unknown;
  private readonly watchdog = new Watchdog();

  constructor(L: LuaState) {
    lua.lua_createtable(L, 0, 0);
    this.sentinel = lua.lua_topointer(L, -1);
    this.sentinelRef = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX) as number;
  }

  /** The value a suspending host call yields (also given to lua/async.lua). */
  pushSentinel(L: LuaState): void {
    lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, this.sentinelRef);
  }

  /** Whether the running thread can suspend (inside a phase, not in init or a module's top level). */
  canSuspend(L: LuaState): boolean {
    return lua.lua_isyieldable(L) as boolean;
  }

  /**
   * From inside a host function: start `work`, suspend the calling thread
   * until it settles. Must be the host function's `return`. A work that
   * throws or rejects answers `nil, <message>`.
   */
  suspend(L: LuaState, work: () => Promise<Answer>): number {
    let p: Promise<Answer>;
    try {
      p = work();
    } catch (err) {
      p = Promise.reject(err);
    }
    this.requested = p;
    this.pushSentinel(L);
    // lua/async.lua passes the pair up through the script's own coroutines.
    lua.lua_pushboolean(L, true);
    return lua.lua_yield(L, 2) as number;
  }

  /** The request a thread yielded, or undefined if it yielded something else. */
  take(co: LuaState, nresults: number): Promise<Answer> | undefined {
    const p = this.requested;
    this.requested = undefined;
    if (nresults !== 2 || lua.lua_topointer(co, -2) !== this.sentinel) return undefined;
    return p;
  }

  /**
   * Tells `waiter` once: the answer, a failure if the work rejected, or
   * TIMEOUT if `deadline` (monotonic ms) passes first. A callback, not a
   * promise per wait: a wait answered at once costs one microtask.
   */
  settle(request: Promise<Answer>, deadline: number, waiter: Waiter): void {
    const wait = new Wait(deadline, waiter);
    this.watchdog.add(wait);
    request.then(
      (a) => this.watchdog.finish(wait, a),
      (err: unknown) => this.watchdog.finish(wait, failure(errorMessage(err))),
    );
  }
}

/** Who is told a host call's answer. */
interface Waiter {
  answer(a: Answer): void;
}

/** One wait for a host call's answer, linked into the watchdog's list while open. */
class Wait {
  prev: Wait | undefined;
  next: Wait | undefined;
  open = true;
  constructor(
    readonly deadline: number,
    readonly waiter: Waiter,
  ) {}
}

/**
 * Times out waits past their phase deadline with one timer for all of them
 * (armed for the earliest deadline), instead of a timer per wait: a wait
 * answered at once then costs no timer at all. Open waits form a linked list,
 * so opening and closing one costs no hashing.
 */
class Watchdog {
  private head: Wait | undefined;
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Infinity;

  add(w: Wait): void {
    w.next = this.head;
    if (this.head !== undefined) this.head.prev = w;
    this.head = w;
    if (w.deadline < this.armedFor) this.arm(w.deadline);
  }

  /** The first answer wins; later ones (the work after a timeout) are dropped. The timer stays armed for the next wait. */
  finish(w: Wait, a: Answer): void {
    if (!w.open) return;
    w.open = false;
    if (w.prev !== undefined) w.prev.next = w.next;
    else this.head = w.next;
    if (w.next !== undefined) w.next.prev = w.prev;
    w.prev = w.next = undefined;
    w.waiter.answer(a);
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedFor = at;
    this.timer = setTimeout(() => this.fire(), Math.max(0, at - monotonicMs()));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = monotonicMs();
    let next = Infinity;
    const due: Wait[] = [];
    for (let w = this.head; w !== undefined; w = w.next) {
      if (w.deadline <= now) due.push(w);
      else if (w.deadline < next) next = w.deadline;
    }
    for (const w of due) this.finish(w, TIMEOUT);
    if (next !== Infinity) this.arm(next);
  }
}

export interface DriveOptions {
  /** Instructions and Lua running time for the whole phase, spent over all resumes. */
  readonly budget: Budget;
  /**
   * Wall-clock limit of the phase, waits included; a wait past it answers
   * nil, "TIMEOUT". The phase clock is read only once something waits (a
   * clock read costs more than a whole trivial callout's overhead budget).
   */
  readonly timeoutMs: number;
  /** Monotonic ms the phase must end by; set at the phase's first wait and shared by its callouts. */
  deadline?: number | undefined;
  /** Called around every resume: binds the host to the session this thread serves. */
  readonly bind: () => void;
  readonly unbind: () => void;
}

export interface Spent {
  instructions: number;
  luaMs: number;
}

/**
 * Runs the function and `nargs` arguments on `co`'s stack to the end,
 * awaiting every host call it suspends on, then gives `done` the number of
 * results left on co's stack and returns what it makes: synchronously when
 * the function never waited (the common case costs no promise at all), else
 * as a promise (`done` runs inside it, a promise less per wait). A fault is
 * thrown (or rejects) as a ScriptFault; the thread is then dead and must not
 * be reused.
 */
export function drive<T>(vm: LuaVm, calls: AsyncCalls, co: LuaState, nargs: number, opts: DriveOptions, spent: Spent, done: (co: LuaState, n: number) => T): T | Promise<T> {
  const first = step(vm, calls, co, nargs, opts, spent);
  if (typeof first === 'number') return done(co, first);
  return new Promise<T>((resolve, reject) => new Suspended(vm, calls, co, opts, spent, (n) => resolve(done(co, n)), reject).wait(first));
}

/** A thread waiting on host calls until it finishes: one object per suspended callout, no closure per wait. */
class Suspended implements Waiter {
  constructor(
    private readonly vm: LuaVm,
    private readonly calls: AsyncCalls,
    private readonly co: LuaState,
    private readonly opts: DriveOptions,
    private readonly spent: Spent,
    private readonly resolve: (n: number) => void,
    private readonly reject: (err: unknown) => void,
  ) {}

  wait(request: Promise<Answer>): void {
    const opts = this.opts;
    if (opts.deadline === undefined) {
      // The phase clock starts at its first wait, so this deadline is still ahead.
      opts.deadline = monotonicMs() + opts.timeoutMs;
    } else if (opts.deadline <= monotonicMs()) {
      // Too late to wait: the work's answer (or failure) is dropped, never left unhandled.
      request.catch(() => undefined);
      queueMicrotask(() => this.answer(TIMEOUT));
      return;
    }
    this.calls.settle(request, opts.deadline, this);
  }

  /** The answer arrived: resume the thread with it. */
  answer(a: Answer): void {
    let next: number | Promise<Answer>;
    try {
      next = step(this.vm, this.calls, this.co, a(this.co), this.opts, this.spent);
    } catch (err) {
      this.reject(err);
      return;
    }
    if (typeof next === 'number') this.resolve(next);
    else this.wait(next);
  }
}

/** One resume: the result count if the function finished, or the request it is now waiting on. */
function step(vm: LuaVm, calls: AsyncCalls, co: LuaState, nargs: number, opts: DriveOptions, spent: Spent): number | Promise<Answer> {
  // Lua running time is measured only around resumes after a wait: before
  // it, the guard's own wall-clock limit is the whole story.
  const measured = opts.deadline !== undefined;
  const budget: Budget =
    spent.instructions === 0 && spent.luaMs === 0
      ? opts.budget
      : { instructions: Math.max(1, opts.budget.instructions - spent.instructions), wallMs: Math.max(1, opts.budget.wallMs - spent.luaMs) };
  const t0 = measured ? monotonicMs() : 0;
  opts.bind();
  let result;
  try {
    result = vm.resume(co, nargs, budget);
  } finally {
    opts.unbind();
    if (measured) spent.luaMs += monotonicMs() - t0;
    spent.instructions += budget.instructions - Math.max(0, vm.instructionsLeft);
  }
  if (result.status === 'ok') return result.nresults;
  const request = calls.take(co, result.nresults);
  lua.lua_settop(co, 0);
  if (request === undefined) {
    throw new ScriptFault('runtime', 'attempt to yield from outside a coroutine (a callout may not call coroutine.yield itself)');
  }
  return request;
}
