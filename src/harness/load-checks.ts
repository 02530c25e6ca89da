/**
 * `assert` steps (counters, series, gauges, log lines, deliveries) and the
 * outcome tallies of `bulk` steps.
 */
import { parseMonitor } from '../audit/monitor-spec.ts';
import { errorMessage } from '../errors.ts';
import { LEVELS } from '../log.ts';
import { checkAddress, checkCidr } from './addresses.ts';
import { FixtureSchemaError } from './errors.ts';
import { METRIC_NAMES, type Check, type MetricName, type NumberMatch, type OutcomeCheck } from './fixture.ts';
import { readTextMatch } from './load-commands.ts';
import { parseNumberMatch, parseWindowRange } from './match.ts';
import type { YMap, YNode } from './yaml-reader.ts';

const SUBJECTS = ['counter', 'series', 'gauge', 'log', 'printed', 'delivered'] as const;

export function readChecks(node: YNode): Check[] {
  const items = node.isSeq ? node.list('assert') : [node];
  if (items.length === 0) node.fail('assert needs at least one check');
  return items.map(readCheck);
}

function readCheck(node: YNode): Check {
  const m = node.map('a check', [...SUBJECTS, 'monitor', 'cidr', 'key', 'windows', 'smoothed', 'listener', 'level', 'count', 'value']);
  const subjects = SUBJECTS.filter((s) => m.has(s));
  if (subjects.length !== 1) {
    node.fail(subjects.length === 0
      ? `a check names what it checks: one of ${SUBJECTS.join(', ')}`
      : `one subject per check, got ${subjects.join(' and ')}`);
  }
  const subject = subjects[0]!;
  const only = (allowed: readonly string[]): void => {
    for (const k of m.keys()) {
      if (k !== subject && !allowed.includes(k)) m.keyNode(k)!.fail(`"${k}" does not apply to a ${subject} check`);
    }
  };
  const subjectNode = m.get(subject)!;
  const pos = m.keyNode(subject)!.pos;
  switch (subject) {
    case 'counter': {
      only(['monitor', 'cidr', 'windows', 'smoothed', 'value']);
      const metric = subjectNode.string('counter');
      if (!(METRIC_NAMES as readonly string[]).includes(metric)) {
        subjectNode.fail(`unknown counter "${metric}" (expected one of: ${METRIC_NAMES.join(', ')})`);
      }
      const smoothed = m.get('smoothed')?.bool('smoothed') ?? false;
      const range = readWindows(m);
      if (smoothed && m.has('windows')) m.keyNode('windows')!.fail('a smoothed value always reads windows 0 and 1; drop "windows"');
      return {
        kind: 'counter', pos, metric: metric as MetricName, monitor: readMonitor(m.require('monitor', 'a counter check'), 'monitor'),
        cidr: readCidr(m, 'a counter check'), ...range, smoothed, value: readValue(m),
      };
    }
    case 'series': {
      only(['key', 'windows', 'value']);
      const keyNode = m.require('key', 'a series check');
      return {
        kind: 'series', pos, name: subjectNode.string('series'), key: keyNode.string('key'), ...readWindows(m), value: readValue(m),
      };
    }
    case 'gauge': {
      only(['cidr', 'listener', 'value']);
      const listener = m.get('listener')?.string('listener');
      return {
        kind: 'gauge', pos, service: subjectNode.string('gauge'), cidr: readCidr(m, 'a gauge check'),
        ...(listener === undefined ? {} : { listener }), value: readValue(m),
      };
    }
    case 'log':
    case 'printed': {
      only(subject === 'log' ? ['level', 'count'] : ['count']);
      const pattern = readTextMatch(subjectNode, subject);
      const levelNode = m.get('level');
      let level: number | undefined;
      if (levelNode !== undefined) {
        const name = levelNode.string('level');
        level = (LEVELS as Record<string, number>)[name];
        if (level === undefined) levelNode.fail(`unknown log level "${name}" (expected one of: ${Object.keys(LEVELS).join(', ')})`);
      }
      const countNode = m.get('count');
      const count = countNode === undefined ? ({ kind: 'compare', op: '>=', n: 1 } as const) : readNumberMatch(countNode, 'count');
      return { kind: 'log', pos, printed: subject === 'printed', pattern, ...(level === undefined ? {} : { level }), count };
    }
    case 'delivered':
      only([]);
      return { kind: 'delivered', pos, value: readNumberMatch(subjectNode, 'delivered') };
  }
}

function readWindows(m: YMap): { start: number; end: number } {
  const node = m.get('windows');
  if (node === undefined) return { start: 0, end: 0 };
  const v = node.scalar('windows');
  const r = typeof v === 'string' || typeof v === 'number' ? parseWindowRange(v) : undefined;
  if (r === undefined) return node.fail('windows must be a window number (0) or an inclusive range (0..5)');
  return r;
}

function readCidr(m: YMap, what: string): string {
  const node = m.require('cidr', what);
  const text = node.string('cidr');
  checkCidr(text, node.pos, 'cidr');
  return text;
}

function readValue(m: YMap): NumberMatch {
  return readNumberMatch(m.require('value', 'this check'), 'value');
}

export function readNumberMatch(node: YNode, what: string): NumberMatch {
  const v = node.scalar(what);
  const match = typeof v === 'string' || typeof v === 'number' ? parseNumberMatch(v) : undefined;
  if (match === undefined) return node.fail(`${what} must be a number or a comparison such as ">= 3", "< 10" or "2..5"`);
  return match;
}

const OUTCOME_KEY = /^(ok|tarpitted|[2-5]xx|[2-5]\d\d)$/;

export function readOutcomes(node: YNode): OutcomeCheck[] {
  const m = node.map('bulk.expect');
  return m.keys().map((outcome) => {
    const keyNode = m.keyNode(outcome)!;
    if (!OUTCOME_KEY.test(outcome)) {
      keyNode.fail(`unknown outcome "${outcome}" (expected ok, tarpitted, a reply code such as 421, or a class such as 5xx)`);
    }
    return { pos: keyNode.pos, outcome, value: readNumberMatch(m.get(outcome)!, `bulk.expect.${outcome}`) };
  });
}

/** Address or CIDR, validated by the store's parser at load time. */
export function readFrom(node: YNode, what: string, allowBlock: boolean): string {
  const text = node.string(what);
  if (allowBlock) checkCidr(text, node.pos, what);
  else checkAddress(text, node.pos, what);
  return text.trim();
}

/** A monitor in the store's own grammar, as its canonical "W,N". */
export function readMonitor(node: YNode, what: string): string {
  try {
    return parseMonitor(node.string(what)).canonical;
  } catch (err) {
    if (err instanceof FixtureSchemaError) throw err;
    return node.fail(`${what}: ${errorMessage(err)}`);
  }
}
