import { ACTION_COMMANDS } from './actions.ts';
import type { Arg, CommandNode, StringArg } from './ast.ts';
import { AUDIT_COMMANDS } from './audit-commands.ts';
import { SieveParseError, type SievePos } from './errors.ts';
import { COMPARATORS, compileRegex, MATCH_TAGS, matcherProblem, RegexError, RELATIONS, type Comparator, type Matcher, type MatchKind, type Relation } from './match.ts';
import type { BoundCall, CommandSpec, Role } from './spec.ts';
import { TEST_COMMANDS } from './tests.ts';
import type { SievePhase } from './config.ts';

/** Every command this host runs, by name: the load-time checker and docs/sieve.md list the same set. */
export const COMMANDS: Readonly<Record<string, CommandSpec>> = Object.freeze({ ...AUDIT_COMMANDS, ...ACTION_COMMANDS, ...TEST_COMMANDS });

const ROLE_WORD: Record<Role, string> = { action: 'an action', test: 'a test', value: 'a command that returns a value' };

/**
 * Checks one command against its spec (known name, use, tags, argument count
 * and literal option values) and binds it for the evaluator. Every problem is
 * a SieveParseError at the offending argument: load time, not session time.
 */
export function bindCommand(file: string, phase: SievePhase, node: CommandNode, role: Role): { spec: CommandSpec; call: BoundCall } {
  const fail = (pos: SievePos, msg: string): never => {
    throw new SieveParseError(file, pos, msg);
  };
  const spec = COMMANDS[node.name];
  if (spec === undefined) fail(node.pos, `unknown command "${node.name}"`);
  const s = spec!;
  if (!fits(s.role, role)) {
    fail(node.pos, `"${node.name}" is ${ROLE_WORD[s.role]} and cannot be used as ${ROLE_WORD[role]}`);
  }
  if (s.phases !== undefined && !s.phases.includes(phase)) {
    fail(node.pos, `"${node.name}" cannot run in the ${phase} phase (${s.phaseNote ?? 'it needs the message'}; phases: ${s.phases.join(', ')})`);
  }
  const tags = new Map<string, StringArg | true>();
  const groups = new Map<string, string>();
  const args: Arg[] = [];
  let comparator: Comparator | undefined;
  let kind: MatchKind | undefined;
  let relation: Relation | undefined;
  const a = node.args;
  for (let i = 0; i < a.length; i++) {
    const arg = a[i]!;
    if (arg.kind !== 'tag') {
      args.push(arg);
      continue;
    }
    if (args.length > 0) fail(arg.pos, `tag ":${arg.name}" must come before the positional arguments of "${node.name}"`);
    const literalAfter = (what: string): string => {
      const next = a[i + 1];
      if (next?.kind !== 'string' || !next.literal) fail(next?.pos ?? arg.pos, `":${arg.name}" must be followed by ${what} as a literal string`);
      i++;
      return (next as StringArg).raw;
    };
    if (s.matching !== undefined && arg.name === 'comparator') {
      if (comparator !== undefined) fail(arg.pos, 'a second ":comparator"');
      const c = literalAfter('a comparator name');
      if (!(COMPARATORS as readonly string[]).includes(c.toLowerCase())) {
        fail(a[i]!.pos, `unknown comparator "${c}" (expected ${COMPARATORS.map((x) => `"${x}"`).join(', ')})`);
      }
      comparator = c.toLowerCase() as Comparator;
      continue;
    }
    if (s.matching !== undefined && (MATCH_TAGS as readonly string[]).includes(arg.name)) {
      if (kind !== undefined) fail(arg.pos, `a second match type ":${arg.name}" (already :${kind})`);
      kind = arg.name as MatchKind;
      if (kind === 'value' || kind === 'count') {
        const r = literalAfter('a relation');
        if (!(RELATIONS as readonly string[]).includes(r.toLowerCase())) {
          fail(a[i]!.pos, `unknown relation "${r}" for :${kind} (expected one of ${RELATIONS.join(' ')})`);
        }
        relation = r.toLowerCase() as Relation;
      }
      continue;
    }
    const t = s.tags?.[arg.name];
    if (t === undefined) {
      const known = [...Object.keys(s.tags ?? {}), ...(s.matching ? ['comparator', ...MATCH_TAGS] : [])];
      fail(arg.pos, `"${node.name}" has no tag ":${arg.name}"${known.length ? ` (tags: ${known.map((k) => `:${k}`).join(' ')})` : ''}`);
    }
    const other = groups.get(t!.group);
    if (other !== undefined) fail(arg.pos, `":${arg.name}" cannot be combined with ":${other}"`);
    groups.set(t!.group, arg.name);
    tags.set(arg.name, t!.arg ? (a[++i] as StringArg) : true);
  }
  if (args.length < s.min || args.length > s.max) {
    const want = s.min === s.max ? `${s.min}` : `${s.min} to ${s.max}`;
    fail(node.pos, `"${node.name}" takes ${want} argument${s.max === 1 ? '' : 's'}, got ${args.length} (usage: ${s.usage})`);
  }
  let matcher: Matcher | undefined;
  let regex: RegExp | undefined;
  if (s.matching !== undefined) {
    matcher = { kind: kind ?? s.matching.match, comparator: comparator ?? s.matching.comparator, ...(relation ? { relation } : {}) };
    const problem = matcherProblem(matcher);
    if (problem !== undefined) fail(node.pos, problem);
    const key = args[args.length - 1];
    if (matcher.kind === 'regex' && key?.kind === 'string' && key.literal) {
      try {
        regex = compileRegex(key.raw, matcher.comparator);
      } catch (err) {
        if (err instanceof RegexError) fail(key.pos, `bad :regex pattern: ${err.message}`);
        throw err;
      }
    }
  }
  const call: BoundCall = {
    name: node.name,
    file,
    pos: node.pos,
    phase,
    tags,
    args,
    ...(matcher ? { matcher } : {}),
    ...(regex ? { regex } : {}),
    ...(matcher?.kind === 'regex' && !regex ? { regexCache: new Map<string, RegExp>() } : {}),
  };
  s.check?.(call, fail);
  return { spec: s, call };
}

/** Value commands may also stand as statements (the result is dropped); actions and tests only where they belong. */
function fits(has: Role, wanted: Role): boolean {
  return has === wanted || (has === 'value' && wanted === 'action');
}
