/**
 * What the harness proves is what the listener does (issue 11): every fixture
 * under examples/ and test/ runs twice — through the in-process harness, and
 * through the real SMTP listener over a socket (test/smtp/lib/socket-front.ts)
 * — and both runs must give the same replies (code, enhanced code, text,
 * disconnect) to every command, the same fixture outcome, and the same audit
 * counters afterwards. Fixtures are discovered, not listed: a fixture added
 * anywhere under those directories is held to this too.
 */
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { METRICS, type AuditStore } from '../../src/audit/store.ts';
import { formatAddress } from '../../src/audit/address.ts';
import { discoverFixtures } from '../../src/harness/discover.ts';
import type { FixtureResult } from '../../src/harness/result.ts';
import { runFixture, runFixtureFile } from '../../src/harness/runner.ts';
import { commandLine, harnessFront, type FrontFactory } from '../../src/harness/session-driver.ts';
import { socketFront } from './lib/socket-front.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** Every YAML under examples/ and test/ that is a fixture (has `policy` and `steps`). */
function fixtureFiles(): string[] {
  return discoverFixtures(['examples', 'test'], ROOT).filter((file) => {
    try {
      const doc = parse(readFileSync(file, 'utf8')) as unknown;
      return typeof doc === 'object' && doc !== null && 'steps' in doc && 'policy' in doc;
    } catch {
      return false;
    }
  });
}

interface Run {
  readonly result: FixtureResult;
  /** "label: COMMAND → code enhanced text [closes]" per command, in order. */
  readonly transcript: string[];
  /** Every non-zero counter of every monitor, metric and window, sorted. */
  readonly counters: string[];
}

function snapshot(store: AuditStore): string[] {
  const out: string[] = [];
  for (const monitor of store.monitors()) {
    const windows = Number(monitor.split(',')[1]);
    for (const metric of METRICS) {
      for (let w = 0; w < windows; w++) {
        for (const [addr, n] of store.hostCounts(metric, monitor, w)) {
          if (n !== 0) out.push(`${monitor} ${metric} w${w} ${formatAddress(addr)} ${n}`);
        }
      }
    }
  }
  return out.sort();
}

/** Wraps a front so every reply and the final counters are recorded. */
function recorded(inner: FrontFactory, transcript: string[], counters: string[]): FrontFactory {
  return async (deps) => {
    const front = await inner(deps);
    return {
      open(label, from, listener, lines) {
        const s = front.open(label, from, listener, lines);
        return {
          label: s.label,
          from: s.from,
          get isOpen() {
            return s.isOpen;
          },
          get closedBy() {
            return s.closedBy;
          },
          abandon: () => s.abandon(),
          async run(command) {
            const r = await s.run(command);
            const what = command.verb === 'connect' ? `CONNECT ${from}` : commandLine(command);
            transcript.push(`${label}: ${what} → ${r === undefined ? '(no reply)' : `${r.code} ${r.enhanced} ${r.text}${r.disconnect ? ' [closes]' : ''}${r.tarpitMs > 0 ? ` [tarpit ${r.tarpitMs}]` : ''}`}`);
            return r;
          },
        };
      },
      async close() {
        await front.close();
        counters.push(...snapshot(deps.store));
      },
    };
  };
}

async function run(file: string | Record<string, unknown>, front: FrontFactory): Promise<Run> {
  const transcript: string[] = [];
  const counters: string[] = [];
  const opts = { front: recorded(front, transcript, counters), logLevel: 'warn', baseDir: ROOT };
  const result = typeof file === 'string' ? await runFixtureFile(file, opts) : await runFixture(file, opts);
  return { result, transcript, counters };
}

function outcome(r: FixtureResult): string {
  if (r.ok) return 'ok';
  if (r.error !== undefined) return `error ${r.error.code}: ${r.error.message}`;
  return `fail ${r.failure!.step}: expected ${r.failure!.expected}, got ${r.failure!.got}`;
}

async function expectParity(file: string | Record<string, unknown>): Promise<Run> {
  const harness = await run(file, harnessFront);
  const socket = await run(file, socketFront);
  expect(socket.transcript).toEqual(harness.transcript);
  expect(outcome(socket.result)).toEqual(outcome(harness.result));
  expect(socket.counters).toEqual(harness.counters);
  return harness;
}

describe('the harness and the listener speak one dialogue', () => {
  const files = fixtureFiles();

  it('finds the fixtures to compare', () => {
    expect(files.length).toBeGreaterThanOrEqual(17);
  });

  for (const file of files) {
    it(`${relative(ROOT, file)}: same replies, outcome and counters`, async () => {
      const h = await expectParity(file);
      expect(h.transcript.length).toBeGreaterThan(0);
    }, 120_000);
  }

  it('covers the front replies the example fixtures do not reach: order errors, RSET, HELO, drop, timeout, unknown command, a refusing sink', async () => {
    const fixture = {
      name: 'front replies',
      policy: { scripts: 'examples/policies', modules: ['dha'] },
      start: '2025-03-03T10:00:00Z',
      steps: [
        {
          session: {
            from: '192.0.2.20',
            commands: [
              { mail: 'a@sender.test', expect: 503 },
              { rcpt: 'x@example.test', expect: 503 },
              { data: null, expect: 503 },
              { helo: 'mx.sender.test' },
              { rcpt: 'x@example.test', expect: 503 },
              'mail',
              { mail: 'b@sender.test', expect: 503 },
              { data: null, expect: 503 },
              { rcpt: 'alice@example.test' },
              { data: { body: 'x', deliver: 'fail' }, expect: 451 },
              'rset',
              { protocol_error: 500 },
              'ehlo',
              'mail',
              { rcpt: 'alice@example.test' },
              'data',
              'ehlo',
              'mail',
              { rcpt: 'alice@example.test' },
              { data: { headers: { Subject: 'second' }, body: '.leading dot\n..two' } },
              'quit',
            ],
          },
        },
        { session: { from: '2001:db8::5', commands: ['ehlo', 'drop'] } },
        { open: 'idle', from: '198.51.100.3' },
        { send: 'idle', ehlo: 'idle.example.test' },
        { close: 'idle', reason: 'timeout' },
        { assert: [{ delivered: 2 }, { counter: 'rejections', monitor: '60,10', cidr: '192.0.2.20', value: 8 }] },
      ],
    };
    const h = await expectParity(fixture);
    expect(h.result.failure ?? h.result.error).toBeUndefined();
    expect(h.transcript).toContain('s1: DATA → 250 2.6.0 Ok: queued as 1.1.2');
    expect(h.transcript).toContain('idle: TIMEOUT → 421 4.4.2 mx.moonwatch.test Error: timeout exceeded [closes]');
  }, 120_000);
});
