/**
 * The fixture harness at scale: 100,000 sessions of a 5-phase policy (one
 * module whose connect, ehlo, mailfrom, rcptto and data callouts each query
 * the store) simulated over 24 virtual hours. Target: <= 20 s.
 *
 * Baseline, in the same run: the same sessions (connect, EHLO, MAIL, RCPT,
 * DATA 1 KB, QUIT, one loopback address each) against the same policy through
 * the real SMTP front, driven by the SMTP benchmark's load client for a few
 * seconds (~2,000 sessions at 50 concurrent clients); its cost per session is
 * extrapolated to 100,000 sessions.
 *
 * A third figure runs what `npm start` serves (the six example policies: the
 * whitelist's msys.cidr lookup at accept, three connect-phase modules,
 * mailfrom and rcptto) the same way, on 20,000 sessions, for a sense of a
 * heavier policy set.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { AuditStore } from '../../src/audit/store.ts';
import { monotonicMs, SystemClock } from '../../src/clock.ts';
import { parseConfig } from '../../src/config/load.ts';
import { engineOptionsFrom, storeOptionsFrom } from '../../src/config/schema.ts';
import { runFixture } from '../../src/harness/runner.ts';
import { createEngine } from '../../src/policy/engine.ts';
import { startSmtpServer } from '../../src/smtp/server.ts';
import { DiscardSink } from '../../src/smtp/sink.ts';
import { FIVE_PHASES } from './policies.ts';
import { result, type BenchResult } from './lib.ts';
import { load } from './smtp.bench.ts';

const SESSIONS = 100_000;
const EXAMPLE_SESSIONS = 20_000;
const MONITORS = ['60,10', '300,6'];
const BODY = `${'x'.repeat(74)}\r\n`.repeat(12).slice(0, 960);


interface PolicySet {
  readonly dir: string;
  readonly modules: readonly string[];
}

function fivePhasePolicy(root: string): PolicySet {
  const dir = join(root, 'five');
  mkdirSync(dir);
  writeFileSync(join(dir, 'five.lua'), FIVE_PHASES);
  return { dir, modules: ['five'] };
}

/** What `npm start` serves, in its configured order. */
function examplePolicies(): PolicySet {
  return { dir: resolve('examples/policies'), modules: ['whitelist', 'ip_rate', 'burst24', 'session_cap', 'smoothed_rate', 'dha'] };
}

/** Seconds the harness takes for `sessions` sessions over 24 virtual hours. */
async function harnessSeconds(policy: PolicySet, sessions: number): Promise<number> {
  const started = monotonicMs();
  const r = await runFixture(
    {
      name: 'bench: a day of traffic',
      policy: { scripts: policy.dir, modules: [...policy.modules], monitors: MONITORS, hostname: 'mx.example.test' },
      start: '2025-03-03T00:00:00Z',
      steps: [
        {
          bulk: {
            sessions,
            from: '10.0.0.0/8',
            over: '24h',
            commands: [
              { ehlo: 'load.example' },
              { mail: 'load@sender.example' },
              { rcpt: 'alice@example.test' },
              { data: { headers: ['From: load@sender.example', 'To: alice@example.test', 'Subject: bench'], body: BODY } },
              'quit',
            ],
            expect: { ok: sessions },
          },
        },
      ],
    },
    // As on the SMTP side: decisions are logged at info, and neither keeps them.
    { logLevel: 'warn' },
  );
  const seconds = (monotonicMs() - started) / 1000;
  if (!r.ok) process.stderr.write(`harness bench: ${r.failure?.got ?? r.error?.message}\n`);
  return seconds;
}

/** Seconds per session through the real SMTP front (throughput at 50 concurrent clients). */
async function smtpSecondsPerSession(policy: PolicySet, root: string): Promise<number> {
  const config = parseConfig(
    [
      'listen: ["127.0.0.1:0"]',
      'hostname: mx.example.test',
      `inbound_audit: { monitors: [${MONITORS.map((m) => `"${m}"`).join(', ')}] }`,
      'scripts:',
      `  dir: ${policy.dir}`,
      `  modules: [${policy.modules.join(', ')}]`,
      '  hot_reload: false',
      'limits: { max_connections: 5000, max_connections_per_ip: 50 }',
    ].join('\n'),
    join(root, 'moonwatch.yaml'),
  );
  const logger = pino({ level: 'warn' }, new Writable({ write: (_c, _e, cb) => cb() }));
  const clock = new SystemClock();
  const store = new AuditStore(storeOptionsFrom(config, { clock, logger }));
  const engine = await createEngine(engineOptionsFrom(config, { clock, logger, store }));
  const listener = await startSmtpServer({ config, engine, sink: new DiscardSink(), logger, clock });
  try {
    const { rate, failed } = await load(listener.addresses()[0]!.port, 50);
    if (failed > 0) process.stderr.write(`harness bench: ${failed} SMTP sessions failed\n`);
    return 1 / rate;
  } finally {
    await listener.close(0);
    await engine.close();
  }
}

export default async function (): Promise<BenchResult[]> {
  const root = mkdtempSync(join(tmpdir(), 'mw-harness-bench-'));
  try {
    const five = fivePhasePolicy(root);
    const harness = await harnessSeconds(five, SESSIONS);
    const smtp = await smtpSecondsPerSession(five, root);
    const examples = examplePolicies();
    const exampleHarness = await harnessSeconds(examples, EXAMPLE_SESSIONS);
    const exampleSmtp = await smtpSecondsPerSession(examples, root);
    return [
      result({
        name: `harness: ${SESSIONS.toLocaleString('en')} sessions, 5-phase policy, 24 virtual hours (baseline: SMTP front, extrapolated)`,
        value: harness,
        unit: 's',
        baseline: smtp * SESSIONS,
        targetOn: 'value',
        cmp: '<=',
        limit: 20,
      }),
      result({
        name: 'harness: cost per session, 5-phase policy (baseline: SMTP front, 50 concurrent clients)',
        value: (harness / SESSIONS) * 1e6,
        unit: 'us',
        baseline: smtp * 1e6,
        targetOn: 'ratio',
        cmp: '<=',
        limit: 1,
      }),
      result({
        name: `harness: cost per session, the six example policies (${EXAMPLE_SESSIONS.toLocaleString('en')} sessions; baseline: SMTP front)`,
        value: (exampleHarness / EXAMPLE_SESSIONS) * 1e6,
        unit: 'us',
        baseline: exampleSmtp * 1e6,
        targetOn: 'ratio',
        cmp: '<=',
        limit: 1,
      }),
    ];
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
