import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { AuditStore } from '../../src/audit/store.ts';
import { ManualClock } from '../../src/clock.ts';
import { captureLogger, type LogRecord } from '../../src/log.ts';
import { createEngine, type Engine } from '../../src/policy/engine.ts';
import type { EngineOptions, ScriptsOptions } from '../../src/policy/engine-options.ts';
import type { AcceptedMessage, PolicySession } from '../../src/policy/session-api.ts';
import type { Verdict } from '../../src/policy/verdict.ts';
import { afterAll } from 'vitest';

/** 2026-11-22T10:00:00Z: a window boundary for every default monitor. */
export const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);

export interface TestEngine {
  engine: Engine;
  store: AuditStore;
  clock: ManualClock;
  records: LogRecord[];
  dir: string;
  delivered: AcceptedMessage[];
  write(file: string, text: string): void;
}

export interface TestEngineOptions {
  scripts: Record<string, string>;
  modules?: string[];
  monitors?: string[];
  start?: number;
  overrides?: Partial<EngineOptions>;
  scriptOptions?: Partial<ScriptsOptions>;
}

/**
 * The scripts directories this test file's engines made, removed once its
 * tests are done (the tests that watch a directory close their engine first).
 */
const scriptDirs: string[] = [];
afterAll(() => {
  for (const dir of scriptDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A real engine over real files in a temp scripts directory, on a manual clock. */
export async function testEngine(opts: TestEngineOptions): Promise<TestEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'mw-scripts-'));
  scriptDirs.push(dir);
  const write = (file: string, text: string) => {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  };
  for (const [file, text] of Object.entries(opts.scripts)) write(file, text);
  const clock = new ManualClock(opts.start ?? T0);
  const { logger, records } = captureLogger('debug');
  const store = new AuditStore({ clock, logger, monitors: opts.monitors ?? ['300,6', '1800,4'] });
  const modules = opts.modules ?? Object.keys(opts.scripts).map((f) => f.replace(/\.lua$/, ''));
  const engine = await createEngine({
    clock,
    logger,
    store,
    scripts: { dir, modules, ...opts.scriptOptions },
    budget: { instructions: 1_000_000, wallMs: 200 },
    hostname: 'mx.test',
    ...opts.overrides,
  });
  return { engine, store, clock, records, dir, delivered: [], write };
}

export interface Transcript {
  session: PolicySession;
  verdicts: Record<string, Verdict>;
}

/** Drives a whole session; stops at the first non-continue verdict like an SMTP client would. */
export async function runSession(
  t: TestEngine,
  from: string,
  steps: { ehlo?: string; mail?: string; rcpts?: string[]; data?: string; keepOpen?: boolean } = {},
): Promise<Transcript> {
  const session = t.engine.openSession({ remote: { address: from, port: 40000 }, listener: '127.0.0.1:25' });
  const verdicts: Record<string, Verdict> = {};
  const stop = (name: string, v: Verdict) => {
    verdicts[name] = v;
    return v.action !== 'continue';
  };
  try {
    if (stop('connect', await session.connect())) return { session, verdicts };
    if (steps.ehlo !== undefined && stop('ehlo', await session.ehlo(steps.ehlo))) return { session, verdicts };
    if (steps.mail === undefined) return { session, verdicts };
    if (stop('mail', await session.mailFrom(steps.mail))) return { session, verdicts };
    let accepted = 0;
    for (const [i, r] of (steps.rcpts ?? []).entries()) {
      const v = await session.rcptTo(r);
      verdicts[`rcpt${i}`] = v;
      if (v.action === 'disconnect') return { session, verdicts };
      if (v.action === 'continue') accepted++;
    }
    if (steps.data !== undefined && accepted > 0) {
      stop('data', await session.data({ raw: Buffer.from(steps.data) }, async (m) => void t.delivered.push(m)));
    }
    return { session, verdicts };
  } finally {
    if (!steps.keepOpen) session.close('quit');
  }
}

export const MESSAGE = 'From: a@sender.test\r\nTo: b@rcpt.test\r\nSubject: hello\r\n\r\nbody line\r\n';

/** Log records at or above a level whose msg matches. */
export function logs(records: LogRecord[], match: RegExp | string, minLevel = 0): LogRecord[] {
  return records.filter((r) => r.level >= minLevel && (typeof match === 'string' ? r.msg.includes(match) : match.test(r.msg)));
}

/** A module named `name` whose validate_connect runs `body` (ac and vctx in scope), then continues. */
export const connectModule = (name: string, body: string): string => `local m = {}
function m:validate_connect(ac, vctx)
${body}
  return msys.core.VALIDATE_CONT
end
msys.registerModule("${name}", m)`;
