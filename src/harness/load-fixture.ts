/**
 * Fixture YAML → Fixture. Everything a fixture can get wrong by itself (YAML,
 * unknown steps and keys, bad addresses, durations, times) is caught here,
 * before any policy runs, with the file:line:col of the offending node.
 */
import { readFixtureDns } from './fixture-dns.ts';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { errorMessage } from '../errors.ts';
import { parseDuration, parseInstant } from './duration.ts';
import { FixtureReadError, FixtureSchemaError } from './errors.ts';
import { METRIC_NAMES, type Fixture, type MetricName, type PolicySpec, type SeedStep, type SendStep, type Step } from './fixture.ts';
import { readChecks, readFrom, readMonitor, readOutcomes } from './load-checks.ts';
import { COMMAND_VERBS, defaultCommand, readCommand, readExpectation, EXPECT_OK, EXPECT_ANY } from './load-commands.ts';
import { parseYaml, yamlFromValue, type YNode } from './yaml-reader.ts';
import { readFixtureSieve } from './sieve-policy.ts';

const STEP_KEYS = ['seed', 'session', 'open', 'send', 'close', 'advance', 'assert', 'bulk'] as const;

/** Parses fixture text. `file` is used in messages and to resolve relative paths. */
export function loadFixture(text: string, file: string): Fixture {
  return readFixture(parseYaml(text, file), file, dirname(resolve(file)));
}

export function loadFixtureFile(path: string): Fixture {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new FixtureReadError({ file: path }, `cannot read fixture: ${errorMessage(err)}`, { cause: err });
  }
  return loadFixture(text, path);
}

/**
 * A fixture given as a plain object (the programmatic API). It goes through
 * the same validation; relative paths resolve against `baseDir`.
 */
export function fixtureFromObject(value: unknown, opts: { label?: string; baseDir?: string } = {}): Fixture {
  const label = opts.label ?? '<fixture object>';
  return readFixture(yamlFromValue(value, label), label, resolve(opts.baseDir ?? '.'));
}

function readFixture(root: YNode, file: string, baseDir: string): Fixture {
  if (root.isNull) root.fail('the fixture is empty');
  const m = root.map('a fixture', ['name', 'policy', 'start', 'options', 'steps']);
  const name = m.get('name')?.string('name') ?? file;
  const policy = readPolicy(m.require('policy', 'a fixture'), baseDir);
  const startNode = m.require('start', 'a fixture');
  const sv = startNode.scalar('start');
  const startMs = typeof sv === 'string' || typeof sv === 'number' ? parseInstant(sv) : undefined;
  if (startMs === undefined) return startNode.fail('start must be an ISO 8601 time with a zone (2025-03-03T10:00:00Z) or epoch seconds');
  let tarpitAdvancesClock = false;
  const options = m.get('options');
  if (options !== undefined) {
    const om = options.map('options', ['tarpit_advances_clock']);
    tarpitAdvancesClock = om.get('tarpit_advances_clock')?.bool('options.tarpit_advances_clock') ?? false;
  }
  const stepsNode = m.require('steps', 'a fixture');
  const steps = stepsNode.list('steps').map(readStep);
  if (steps.length === 0) stepsNode.fail('steps is empty: a fixture must do something');
  checkSessionNames(steps);
  return { file, name, pos: root.pos, policy, startMs, tarpitAdvancesClock, steps };
}

function readPolicy(node: YNode, baseDir: string): PolicySpec {
  const m = node.map('policy', ['config', 'scripts', 'modules', 'monitors', 'hostname', 'reception_unit', 'budget', 'sieve', 'dns']);
  const sieveNode = m.get('sieve');
  const sieve = sieveNode === undefined ? undefined : readFixtureSieve(sieveNode);
  const config = m.get('config')?.string('policy.config');
  const scripts = m.get('scripts')?.string('policy.scripts');
  if (config === undefined && scripts === undefined) node.fail('policy needs either "config" (a moonwatch config file) or "scripts" (a scripts directory) with "modules"');
  const modulesNode = m.get('modules');
  const modules = modulesNode?.list('policy.modules').map((n) => n.string('a module name'));
  if (config === undefined && modules === undefined && sieve === undefined) node.fail('policy.scripts needs "modules" (the modules to load, in order)');
  if (modules !== undefined && modules.length === 0) modulesNode!.fail('policy.modules is empty');
  const monitorsNode = m.get('monitors');
  const monitors = monitorsNode?.list('policy.monitors').map((n) => readMonitor(n, 'a monitor'));
  const receptionUnit = m.get('reception_unit')?.oneOf('policy.reception_unit', ['recipient', 'message']);
  const budgetNode = m.get('budget');
  let budget: PolicySpec['budget'];
  if (budgetNode !== undefined) {
    const b = budgetNode.map('policy.budget', ['instructions', 'wall_ms']);
    budget = {
      instructions: b.require('instructions', 'policy.budget').int('policy.budget.instructions', 1),
      wallMs: b.require('wall_ms', 'policy.budget').int('policy.budget.wall_ms', 1),
    };
  }
  const hostname = m.get('hostname')?.string('policy.hostname');
  return {
    pos: node.pos,
    ...(config === undefined ? {} : { config: resolve(baseDir, config) }),
    ...(scripts === undefined ? {} : { scripts: resolve(baseDir, scripts) }),
    ...(modules === undefined ? {} : { modules }),
    ...(monitors === undefined ? {} : { monitors }),
    ...(hostname === undefined ? {} : { hostname }),
    ...(receptionUnit === undefined ? {} : { receptionUnit }),
    ...(budget === undefined ? {} : { budget }),
    ...(sieve === undefined ? {} : { sieve }),
    ...(m.get('dns') === undefined ? {} : { dns: readFixtureDns(m.get('dns')!) }),
  };
}

function readStep(node: YNode): Step {
  if (!node.isMap) node.fail(`a step must be a map with one of: ${STEP_KEYS.join(', ')}`);
  const keys = node.map('a step').keys();
  const kinds = STEP_KEYS.filter((k) => keys.includes(k));
  if (kinds.length !== 1) {
    if (kinds.length > 1) node.fail(`one step per list item, got ${kinds.join(' and ')}`);
    const first = node.map('a step').keyNode(keys[0]!)!;
    first.fail(`unknown step "${keys[0]}" (expected one of: ${STEP_KEYS.join(', ')})`);
  }
  const kind = kinds[0]!;
  switch (kind) {
    case 'seed': {
      const m = node.map('a step', ['seed']);
      return readSeed(m.get('seed')!, m.keyNode('seed')!);
    }
    case 'session': {
      const m = node.map('a step', ['session']);
      const s = m.get('session')!.map('session', ['name', 'from', 'listener', 'commands']);
      const commandsNode = s.require('commands', 'a session');
      const commands = commandsNode.list('session.commands').map((c) => readCommand(c, { allowExpect: true }));
      if (commands.length === 0) commandsNode.fail('session.commands is empty');
      commands.slice(1).forEach((c) => {
        if (c.verb === 'connect') throw new FixtureSchemaError(c.pos, 'connect may only be the first command of a session');
      });
      const name = s.get('name')?.string('session.name');
      const listener = s.get('listener')?.string('session.listener');
      return {
        kind: 'session', pos: m.keyNode('session')!.pos, from: readFrom(s.require('from', 'a session'), 'session.from', false), commands,
        ...(name === undefined ? {} : { name }), ...(listener === undefined ? {} : { listener }),
      };
    }
    case 'open': {
      const m = node.map('a step', ['open', 'from', 'listener', 'expect']);
      const listener = m.get('listener')?.string('listener');
      const expectNode = m.get('expect');
      return {
        kind: 'open', pos: m.keyNode('open')!.pos, session: sessionName(m.get('open')!),
        from: readFrom(m.require('from', 'an open step'), 'from', false),
        expect: expectNode === undefined ? EXPECT_OK : readExpectation(expectNode),
        ...(listener === undefined ? {} : { listener }),
      };
    }
    case 'send': {
      const m = node.map('a step', ['send', 'expect', ...COMMAND_VERBS]);
      const command = readCommand(node, { allowExpect: true, extraKeys: ['send'] });
      if (command.verb === 'connect') m.keyNode('connect')!.fail('use an open step to connect a named session');
      return { kind: 'send', pos: m.keyNode('send')!.pos, session: sessionName(m.get('send')!), command };
    }
    case 'close': {
      const m = node.map('a step', ['close', 'reason']);
      const reason = m.get('reason')?.oneOf('close.reason', ['quit', 'drop', 'timeout'], ' (drop = connection lost)') ?? 'quit';
      const pos = m.keyNode('close')!.pos;
      const step: SendStep = { kind: 'send', pos, session: sessionName(m.get('close')!), command: { verb: reason, pos, expect: EXPECT_ANY } };
      return step;
    }
    case 'advance': {
      const m = node.map('a step', ['advance']);
      const v = m.get('advance')!;
      const pos = m.keyNode('advance')!.pos;
      if (v.isMap) {
        const am = v.map('advance', ['by', 'to']);
        if (am.has('by') === am.has('to')) v.fail('advance takes either "by" (a duration) or "to" (a time)');
        if (am.has('to')) {
          const to = am.get('to')!;
          const tv = to.scalar('advance.to');
          const ms = typeof tv === 'string' || typeof tv === 'number' ? parseInstant(tv) : undefined;
          if (ms === undefined) return to.fail('advance.to must be an ISO 8601 time with a zone or epoch seconds');
          return { kind: 'advance', pos, toMs: ms };
        }
        return { kind: 'advance', pos, byMs: readDuration(am.get('by')!, 'advance.by') };
      }
      return { kind: 'advance', pos, byMs: readDuration(v, 'advance') };
    }
    case 'assert': {
      const m = node.map('a step', ['assert']);
      return { kind: 'assert', pos: m.keyNode('assert')!.pos, checks: readChecks(m.get('assert')!) };
    }
    case 'bulk': {
      const m = node.map('a step', ['bulk']);
      return readBulk(m.get('bulk')!, m.keyNode('bulk')!);
    }
  }
}

function readSeed(node: YNode, at: YNode): Step {
  const m = node.map('seed', ['metric', 'series', 'gauge', 'address', 'key', 'window', 'monitor', 'ago', 'count', 'node', 'open']);
  if (m.has('gauge')) {
    // Open sessions held for the rest of the fixture (e.g. 1001 sessions from one IP).
    for (const k of ['metric', 'series', 'key', 'window', 'monitor', 'ago', 'node', 'open']) if (m.has(k)) m.keyNode(k)!.fail(`a gauge seed takes "address" and "count", not "${k}"`);
    const gauge = m.get('gauge')!.oneOf('seed.gauge', ['SMTP', 'ECStream', 'Control', 'ECmmove2', 'ECCluster'] as const);
    const count = m.get('count')?.int('seed.count', 1, 1_000_000) ?? 1;
    return { kind: 'seed', pos: at.pos, count, gauge, address: readFrom(m.require('address', 'a gauge seed'), 'seed.address', true) };
  }
  const onNode = m.has('node') ? readNodeName(m.get('node')!) : undefined;
  if (m.has('open')) {
    // Sessions open on another cluster node: a gauge, no history.
    for (const k of ['metric', 'series', 'key', 'window', 'monitor', 'ago', 'count']) if (m.has(k)) m.keyNode(k)!.fail(`a seed of open sessions takes address, open and node, not "${k}"`);
    if (onNode === undefined) node.fail('seed.open counts sessions open on another cluster node: name it with "node"');
    return {
      kind: 'seed' as const, pos: at.pos, count: m.get('open')!.int('seed.open', 1, 100_000), open: true, node: onNode,
      address: readFrom(m.require('address', 'a seed of open sessions'), 'seed.address', true),
    };
  }
  if (onNode !== undefined) return { ...readSeedOn(node, at, m), node: onNode };
  return readSeedOn(node, at, m);
}

/** A cluster node name as the config's cluster.node spells it. */
function readNodeName(n: YNode): string {
  const v = n.string('seed.node');
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(v)) n.fail(`"${v}" is not a node name (1-64 letters, digits, _ . -)`);
  return v;
}

function readSeedOn(node: YNode, at: YNode, m: ReturnType<YNode['map']>): SeedStep {
  if (m.has('metric') === m.has('series')) node.fail('seed names either a "metric" (connections, receptions, rejections) or a "series"');
  const count = m.get('count')?.int('seed.count', 1, 10_000_000) ?? 1;
  if (m.has('window') && m.has('ago')) m.keyNode('ago')!.fail('seed takes "window" or "ago", not both');
  const window = m.get('window')?.int('seed.window', 0);
  const agoNode = m.get('ago');
  const agoMs = agoNode === undefined ? undefined : readDuration(agoNode, 'seed.ago');
  const monitorNode = m.get('monitor');
  const monitor = monitorNode === undefined ? undefined : readMonitor(monitorNode, 'seed.monitor');
  const common = {
    kind: 'seed' as const, pos: at.pos, count,
    ...(window === undefined ? {} : { window }), ...(agoMs === undefined ? {} : { agoMs }),
    ...(monitor === undefined ? {} : { monitor }),
  };
  if (m.has('metric')) {
    const metricNode = m.get('metric')!;
    const metric = metricNode.string('seed.metric');
    if (!(METRIC_NAMES as readonly string[]).includes(metric)) metricNode.fail(`unknown metric "${metric}" (expected one of: ${METRIC_NAMES.join(', ')})`);
    if (m.has('key')) m.keyNode('key')!.fail('metrics are keyed by address; use "address"');
    if (window !== undefined && window > 0 && monitor === undefined) node.fail('seed.window > 0 on a metric needs "monitor" (whose window length it counts in)');
    return { ...common, metric: metric as MetricName, address: readFrom(m.require('address', 'a metric seed'), 'seed.address', true) };
  }
  if (monitor !== undefined) monitorNode!.fail('a series counts windows of its own interval; drop "monitor"');
  if (m.has('address') === m.has('key')) node.fail('a series seed needs "address" (IP series) or "key" (string series)');
  const series = m.get('series')!.string('seed.series');
  if (m.has('address')) return { ...common, series, address: readFrom(m.get('address')!, 'seed.address', true) };
  return { ...common, series, key: m.get('key')!.string('seed.key') };
}

const DEFAULT_BULK_COMMANDS = ['ehlo', 'mail', 'rcpt', 'data', 'quit'] as const;

function readBulk(node: YNode, at: YNode): Step {
  const m = node.map('bulk', ['sessions', 'from', 'over', 'pick', 'seed', 'commands', 'expect']);
  const sessions = m.require('sessions', 'a bulk step').int('bulk.sessions', 1, 10_000_000);
  const from = readFrom(m.require('from', 'a bulk step'), 'bulk.from', true);
  const overNode = m.get('over');
  const overMs = overNode === undefined ? 0 : readDuration(overNode, 'bulk.over');
  const pick = m.get('pick')?.oneOf('bulk.pick', ['random', 'sequential']) ?? 'random';
  const seed = m.get('seed')?.int('bulk.seed', 0, 2 ** 31 - 1) ?? 1;
  const commandsNode = m.get('commands');
  const commands = commandsNode === undefined
    ? DEFAULT_BULK_COMMANDS.map((verb) => defaultCommand(verb, at.pos))
    : commandsNode.list('bulk.commands').map((c) => readCommand(c, { allowExpect: false }));
  if (commands.length === 0) commandsNode!.fail('bulk.commands is empty');
  if (commands.some((c) => c.verb === 'connect')) commandsNode!.fail('bulk sessions always connect first; leave connect out');
  const expectNode = m.get('expect');
  return {
    kind: 'bulk', pos: at.pos, sessions, from, overMs, pick, seed, commands,
    expect: expectNode === undefined ? [] : readOutcomes(expectNode),
  };
}

function readDuration(node: YNode, what: string): number {
  const v = node.scalar(what);
  const ms = typeof v === 'string' || typeof v === 'number' ? parseDuration(v) : undefined;
  if (ms === undefined) return node.fail(`${what} must be a duration such as 90s, 5m, 1h30m or 250ms`);
  return ms;
}

function sessionName(node: YNode): string {
  const name = node.string('session name');
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) node.fail(`session name "${name}" must be 1-64 letters, digits, _ . or -`);
  return name;
}

/** Named sessions must be opened before use and not opened twice while open. */
function checkSessionNames(steps: readonly Step[]): void {
  const open = new Set<string>();
  for (const step of steps) {
    if (step.kind === 'open') {
      if (open.has(step.session)) throw new FixtureSchemaError(step.pos, `session "${step.session}" is already open`);
      open.add(step.session);
    } else if (step.kind === 'send') {
      if (!open.has(step.session)) throw new FixtureSchemaError(step.pos, `session "${step.session}" is not open here (open it with an open step first)`);
      const v = step.command.verb;
      if (v === 'quit' || v === 'drop' || v === 'timeout') open.delete(step.session);
    }
  }
}
