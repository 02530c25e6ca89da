/**
 * Runs one fixture in isolation: its own virtual clock, capture logger, store
 * and engine (so its own script generation). Nothing here reads real time or
 * touches the network, so the same fixture gives the same result everywhere.
 */
import { ManualClock, monotonicMs } from '../clock.ts';
import { errorMessage } from '../errors.ts';
import { captureLogger, type Logger, type LogRecord } from '../log.ts';
import { runBulk } from './bulk.ts';
import { runCheck } from './checks.ts';
import { FixtureError, FixtureStepError } from './errors.ts';
import { describeExpectation, describeReply, replyMismatches } from './expect-reply.ts';
import type { Command, Fixture, SeedStep, Step } from './fixture.ts';
import { EXPECT_OK } from './load-commands.ts';
import { fixtureFromObject, loadFixtureFile } from './load-fixture.ts';
import { buildPolicy, type BuiltPolicy } from './policy-setup.ts';
import type { FixtureResult, TranscriptLine } from './result.ts';
import { StepFailure, failStep, type RunContext } from './run-context.ts';
import { applySeed, describeSeed, MAX_SEED_LOOKBACK_MS, seedInstant, seedsPast } from './seeding.ts';
import { harnessFront, type FixtureSession, type FrontFactory, type SessionFront } from './session-driver.ts';

export interface RunOptions {
  /** Run the fixture's policy from this scripts directory instead (e.g. a mutated copy). */
  readonly scriptsDir?: string;
  /** Level of the captured log; lower levels are not recorded (default "debug"). */
  readonly logLevel?: string;
  /** For fixtures given as objects: where relative paths resolve (default: the working directory). */
  readonly baseDir?: string;
  /** Where sessions run (default: in process). The dialogue parity test runs them through the real listener. */
  readonly front?: FrontFactory;
}

/** Runs a loaded fixture, or one given as a plain object in the YAML's shape. Never throws for fixture problems. */
export async function runFixture(fixture: Fixture | Record<string, unknown>, opts: RunOptions = {}): Promise<FixtureResult> {
  const started = monotonicMs();
  let loaded: Fixture;
  try {
    loaded = isFixture(fixture) ? fixture : fixtureFromObject(fixture, opts.baseDir === undefined ? {} : { baseDir: opts.baseDir });
  } catch (err) {
    return errorResult('<fixture object>', '<fixture object>', err, started);
  }
  return new FixtureRun(loaded, opts).run(started);
}

/** Loads and runs a fixture file. A file that does not parse yields a result with `error` (file:line). */
export async function runFixtureFile(path: string, opts: RunOptions = {}): Promise<FixtureResult> {
  const started = monotonicMs();
  let fixture: Fixture;
  try {
    fixture = loadFixtureFile(path);
  } catch (err) {
    return errorResult(path, path, err, started);
  }
  return new FixtureRun(fixture, opts).run(started);
}

function isFixture(v: unknown): v is Fixture {
  return typeof v === 'object' && v !== null && Array.isArray((v as Fixture).steps) && typeof (v as Fixture).startMs === 'number';
}

function errorResult(file: string, name: string, err: unknown, started: number, logs: readonly LogRecord[] = []): FixtureResult {
  const error = err instanceof FixtureError
    ? { code: err.code, message: err.message, file: err.file, ...(err.line === undefined ? {} : { line: err.line }) }
    : { code: (err as { code?: string }).code ?? 'MW_ERR_FIXTURE_INTERNAL', message: errorMessage(err) };
  return {
    file, name, ok: false, error, logs,
    stats: { steps: 0, sessions: 0, checks: 0, virtualMs: 0, elapsedMs: monotonicMs() - started },
  };
}

class FixtureRun {
  private readonly clock: ManualClock;
  private readonly logger: Logger;
  private readonly records: LogRecord[];
  private readonly sessions = new Map<string, FixtureSession>();
  private readonly transcript: TranscriptLine[] = [];
  private stepsRun = 0;
  private anonymous = 0;

  constructor(
    private readonly fixture: Fixture,
    private readonly opts: RunOptions,
  ) {
    // The policy is loaded before any seeded history, so that history can be
    // written in time order: windows only ever rotate forward.
    const leading = this.leadingSeeds();
    this.clock = new ManualClock(leading.some(seedsPast) ? fixture.startMs - MAX_SEED_LOOKBACK_MS : fixture.startMs);
    const captured = captureLogger(opts.logLevel ?? 'debug');
    this.logger = captured.logger;
    this.records = captured.records;
  }

  async run(started: number): Promise<FixtureResult> {
    const f = this.fixture;
    let policy: BuiltPolicy | undefined;
    let ctx: RunContext | undefined;
    let front: SessionFront | undefined;
    try {
      policy = await buildPolicy(f.policy, {
        clock: this.clock,
        logger: this.logger,
        ...(this.opts.scriptsDir === undefined ? {} : { scriptsDir: this.opts.scriptsDir }),
      });
      const built = policy;
      front = await (this.opts.front ?? harnessFront)({
        engine: built.engine, store: built.store, clock: this.clock, logger: this.logger, hostname: built.hostname, banner: built.banner,
        limits: { maxErrors: built.limits.maxErrors, maxNonProgressing: built.limits.maxNonProgressingCommands },
        onDelivered: () => void ctx!.delivered++,
      });
      ctx = {
        fixture: f, store: policy.store, engine: policy.engine, clock: this.clock, hostname: policy.hostname, front,
        records: this.records, delivered: 0, transcript: this.transcript, sessionsRun: 0, checksRun: 0,
      };
      const leading = this.leadingSeeds();
      this.seedHistory(ctx, leading);
      for (let i = leading.length; i < f.steps.length; i++) {
        this.stepsRun = i + 1;
        await this.step(ctx, f.steps[i]!, i + 1);
      }
      this.stepsRun = f.steps.length;
      return this.result(ctx, started, {});
    } catch (err) {
      if (err instanceof StepFailure && ctx !== undefined) return this.result(ctx, started, { failure: err.failure });
      const r = errorResult(f.file, f.name, err, started, this.records);
      return ctx === undefined ? r : { ...r, stats: this.stats(ctx, started) };
    } finally {
      for (const s of this.sessions.values()) await s.abandon();
      await front?.close();
      await policy?.engine.close();
    }
  }

  private leadingSeeds(): SeedStep[] {
    const out: SeedStep[] = [];
    for (const s of this.fixture.steps) {
      if (s.kind !== 'seed') break;
      out.push(s);
    }
    return out;
  }

  /** Writes the leading seeds oldest first, then moves the clock to the fixture's start. */
  private seedHistory(ctx: RunContext, seeds: readonly SeedStep[]): void {
    const start = this.fixture.startMs;
    const planned = seeds.map((step, order) => ({ step, order, at: seedInstant(step, start, ctx.store) }));
    for (const p of planned) {
      if (p.at < this.clock.now()) {
        throw new FixtureStepError(p.step.pos, `${describeSeed(p.step)} reaches further back than ${MAX_SEED_LOOKBACK_MS / 86_400_000} days before start`);
      }
    }
    planned.sort((a, b) => a.at - b.at || a.order - b.order);
    for (const p of planned) {
      this.clock.set(p.at);
      applySeed(p.step, ctx.store);
    }
    this.clock.set(start);
    this.stepsRun = seeds.length;
  }

  private async step(ctx: RunContext, step: Step, n: number): Promise<void> {
    switch (step.kind) {
      case 'seed': {
        if (seedInstant(step, this.clock.now(), ctx.store) < this.clock.now()) {
          throw new FixtureStepError(step.pos, 'a seed into past windows must come before the first session, advance, assert or bulk step (windows only rotate forward); move it to the top of the steps');
        }
        applySeed(step, ctx.store);
        return;
      }
      case 'session': {
        const label = step.name ?? `s${++this.anonymous}`;
        const session = this.newSession(ctx, label, step.from, step.listener);
        const commands: Command[] = step.commands[0]?.verb === 'connect'
          ? [...step.commands]
          : [{ verb: 'connect', pos: step.pos, expect: EXPECT_OK }, ...step.commands];
        const stepLabel = `step ${n} (session ${label} from ${step.from})`;
        try {
          for (const c of commands) await this.command(ctx, session, c, stepLabel);
          // A session written without quit ends with one: the client hangs up politely.
          if (session.isOpen) await session.run({ verb: 'quit', pos: step.pos, expect: EXPECT_OK });
        } finally {
          await session.abandon();
        }
        return;
      }
      case 'open': {
        const session = this.newSession(ctx, step.session, step.from, step.listener);
        this.sessions.set(step.session, session);
        await this.command(ctx, session, { verb: 'connect', pos: step.pos, expect: step.expect }, `step ${n} (open ${step.session} from ${step.from})`);
        return;
      }
      case 'send': {
        const session = this.sessions.get(step.session)!;
        await this.command(ctx, session, step.command, `step ${n} (session ${step.session})`);
        if (!session.isOpen) this.sessions.delete(step.session);
        return;
      }
      case 'advance': {
        const to = step.toMs ?? this.clock.now() + step.byMs!;
        if (to < this.clock.now()) {
          throw new FixtureStepError(step.pos, `advance.to is ${new Date(to).toISOString()}, before the current virtual time ${new Date(this.clock.now()).toISOString()}; time only moves forward`);
        }
        this.clock.set(to);
        return;
      }
      case 'assert':
        for (const check of step.checks) runCheck(ctx, check, `step ${n} (assert)`);
        return;
      case 'bulk':
        await runBulk(ctx, step, `step ${n} (bulk ${step.sessions} sessions from ${step.from})`);
        return;
    }
  }

  private newSession(ctx: RunContext, label: string, from: string, listener: string | undefined): FixtureSession {
    ctx.sessionsRun++;
    return ctx.front.open(label, from, listener, this.transcript);
  }

  private async command(ctx: RunContext, session: FixtureSession, c: Command, stepLabel: string): Promise<void> {
    const what = `${stepLabel}: ${c.verb}`;
    if (c.verb !== 'connect' && !session.isOpen) {
      failStep(ctx, what, c.pos, `session ${session.label} to be open`, `it was closed: ${session.closedBy ?? 'it ended'}`, [session.label]);
    }
    const reply = await session.run(c);
    if (reply === undefined) return;
    if (reply.tarpitMs > 0 && this.fixture.tarpitAdvancesClock) this.clock.advance(reply.tarpitMs);
    const wrong = replyMismatches(c.expect, reply);
    if (wrong.length > 0) {
      failStep(ctx, what, c.pos, `${describeExpectation(c.expect)}`, `${describeReply(reply)} (wanted ${wrong.join(', ')})`, [session.label]);
    }
  }

  private stats(ctx: RunContext, started: number) {
    return {
      steps: this.stepsRun,
      sessions: ctx.sessionsRun,
      checks: ctx.checksRun,
      virtualMs: this.clock.now() - this.fixture.startMs,
      elapsedMs: monotonicMs() - started,
    };
  }

  private result(ctx: RunContext, started: number, extra: Pick<FixtureResult, 'failure'>): FixtureResult {
    return {
      file: this.fixture.file,
      name: this.fixture.name,
      ok: extra.failure === undefined,
      ...extra,
      stats: this.stats(ctx, started),
      logs: this.records,
    };
  }
}
