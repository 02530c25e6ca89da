import type { SievePos } from './errors.ts';

/**
 * The parsed form of a Sieve++ script. Strings are split into literal text,
 * `${var}` references and `%{…}` macros once, at load, so a session only
 * concatenates.
 */
export type StringPart = { readonly lit: string } | { readonly var: string } | { readonly macro: string };

export interface StringArg {
  readonly kind: 'string';
  readonly pos: SievePos;
  /** The string as written (after quoting), for load-time checks of literal values. */
  readonly raw: string;
  readonly parts: readonly StringPart[];
  /** True when the string holds no `${…}` and no macro: its value is `raw`. */
  readonly literal: boolean;
}

export type Arg =
  | { readonly kind: 'tag'; readonly pos: SievePos; readonly name: string }
  | StringArg
  | { readonly kind: 'number'; readonly pos: SievePos; readonly value: number }
  | { readonly kind: 'list'; readonly pos: SievePos; readonly items: readonly StringArg[] }
  | { readonly kind: 'var'; readonly pos: SievePos; readonly name: string }
  | { readonly kind: 'index'; readonly pos: SievePos; readonly name: string; readonly key: StringArg };

export interface CommandNode {
  readonly name: string;
  readonly pos: SievePos;
  readonly args: readonly Arg[];
}

export type TestNode =
  | { readonly kind: 'allof' | 'anyof'; readonly pos: SievePos; readonly tests: readonly TestNode[] }
  | { readonly kind: 'not'; readonly pos: SievePos; readonly test: TestNode }
  | { readonly kind: 'const'; readonly pos: SievePos; readonly value: boolean }
  | { readonly kind: 'command'; readonly pos: SievePos; readonly command: CommandNode };

export type Statement =
  | {
      readonly kind: 'if';
      readonly pos: SievePos;
      readonly branches: readonly { readonly test: TestNode; readonly body: readonly Statement[] }[];
      readonly otherwise?: readonly Statement[];
    }
  | { readonly kind: 'stop'; readonly pos: SievePos }
  | { readonly kind: 'require'; readonly pos: SievePos }
  | {
      readonly kind: 'assign';
      readonly pos: SievePos;
      /** `$a = …` has one target and list = false; `($a, $b) = …` unpacks a string list. */
      readonly targets: readonly string[];
      readonly list: boolean;
      readonly value: { readonly kind: 'command'; readonly command: CommandNode } | { readonly kind: 'value'; readonly arg: Arg };
    }
  | { readonly kind: 'command'; readonly pos: SievePos; readonly command: CommandNode };
