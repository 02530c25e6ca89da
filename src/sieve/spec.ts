import type { Arg, StringArg } from './ast.ts';
import type { SievePos } from './errors.ts';
import type { Comparator, Matcher, MatchKind } from './match.ts';
import type { Run, Value } from './values.ts';
import type { SievePhase } from './config.ts';

/** What a command is used as: a statement, a test (in if/allof/anyof/not) or the right side of "=". */
export type Role = 'action' | 'test' | 'value';

export interface TagSpec {
  /** Tags of one group exclude each other (match types, address parts, :over/:under). */
  readonly group: string;
  /** The tag takes the next argument, which must be a literal string (":comparator \"i;octet\""). */
  readonly arg?: boolean;
}

/** One command as checked at load: tags resolved, positional arguments counted. */
export interface BoundCall {
  readonly name: string;
  readonly file: string;
  readonly pos: SievePos;
  readonly phase: SievePhase;
  readonly tags: ReadonlyMap<string, StringArg | true>;
  readonly args: readonly Arg[];
  readonly matcher?: Matcher;
  /** A :regex key written as a literal, compiled once at load. */
  readonly regex?: RegExp;
  /** An interpolated :regex key: patterns compiled so far by this command (bounded). */
  readonly regexCache?: Map<string, RegExp>;
}

export type Fail = (pos: SievePos, message: string) => never;

export interface CommandSpec {
  readonly role: Role;
  /** "ec_tarpit <seconds> [\"<counter>\"]": shown in wrong-argument-count errors and docs. */
  readonly usage: string;
  readonly min: number;
  readonly max: number;
  readonly tags?: Readonly<Record<string, TagSpec>>;
  /** Takes :comparator and one match type (ec_test, header, address, envelope). */
  readonly matching?: { readonly comparator: Comparator; readonly match: MatchKind };
  /** The phases where the command has something to work on; elsewhere it is a load error. */
  readonly phases?: readonly SievePhase[];
  readonly phaseNote?: string;
  /** Further load-time checks of literal arguments (option values, codes). */
  readonly check?: (call: BoundCall, fail: Fail) => void;
  readonly run: (rt: Run, call: BoundCall) => Value | boolean | undefined;
}
