/**
 * The in-memory form of a fixture file (docs/fixtures.md describes the YAML).
 * Every node keeps the position it was written at, so a failing step can point
 * at its own line.
 */
import type { DnsAnswer } from '../msys/compat-services.ts';
import type { SourcePos } from './errors.ts';
import type { SieveScriptsOptions } from '../sieve/config.ts';

export type MetricName = 'connections' | 'receptions' | 'rejections';
export const METRIC_NAMES: readonly MetricName[] = ['connections', 'receptions', 'rejections'];

export type TextMatch =
  | { readonly kind: 'substring'; readonly text: string }
  | { readonly kind: 'regex'; readonly re: RegExp };

export type NumberOp = '==' | '!=' | '>=' | '<=' | '>' | '<';

export type NumberMatch =
  | { readonly kind: 'compare'; readonly op: NumberOp; readonly n: number }
  | { readonly kind: 'range'; readonly min: number; readonly max: number };

/** What a reply must look like. Omitted fields are not checked, except where noted. */
export interface ReplyExpectation {
  /** `expect: any` — nothing is checked. */
  readonly any: boolean;
  /** The reply class: ok = 2xx/3xx, tempfail = 4xx, reject = 5xx. */
  readonly outcome?: 'ok' | 'tempfail' | 'reject';
  readonly code?: number;
  readonly enhanced?: string;
  readonly text?: TextMatch;
  /** Server closed the session after this reply. Checked when given, and `false` for `ok`. */
  readonly disconnect?: boolean;
  /** Exact tarpit delay; `any` = some delay. When omitted the reply must not be tarpitted. */
  readonly tarpitMs?: number | 'any';
  /** The reply came from the failure mode after a script fault. */
  readonly fault?: boolean;
}

export interface MessageSpec {
  /** Header lines in order; when none are given the harness writes a plausible set. */
  readonly headers: readonly (readonly [string, string])[];
  readonly body: string;
  /** Pad the body so the whole message is at least this many bytes. */
  readonly size?: number;
}

interface CommandBase {
  readonly pos: SourcePos;
  readonly expect: ReplyExpectation;
}

export type Command =
  | (CommandBase & { readonly verb: 'connect' })
  | (CommandBase & { readonly verb: 'ehlo' | 'helo' | 'mail' | 'rcpt'; readonly arg: string })
  | (CommandBase & { readonly verb: 'data'; readonly message: MessageSpec; readonly deliver: 'ok' | 'fail' })
  | (CommandBase & { readonly verb: 'rset' | 'quit' | 'drop' | 'timeout' })
  | (CommandBase & { readonly verb: 'protocol_error'; readonly code: number });

export type CommandVerb = Command['verb'];

export interface SeedStep {
  readonly kind: 'seed';
  readonly pos: SourcePos;
  readonly metric?: MetricName;
  readonly series?: string;
  /** A service whose gauge gets `count` sessions opened (and held) from `address`. */
  readonly gauge?: string;
  /** IP address or CIDR (events are spread over the block's addresses). */
  readonly address?: string;
  /** String key of a string series. */
  readonly key?: string;
  /** Window k of `monitor` (metrics) or of the series; the events happen k windows ago. */
  readonly window?: number;
  readonly monitor?: string;
  /** Alternatively: the events happen this long before the step's time. */
  readonly agoMs?: number;
  readonly count: number;
  /** Counted on (or, with `open`, sessions open on) another cluster node of this name (docs/fixtures.md). */
  readonly node?: string;
  /** `count` sessions open now on `node` from `address` (the inbound_cidr gauge). */
  readonly open?: boolean;
}

export interface SessionStep {
  readonly kind: 'session';
  readonly pos: SourcePos;
  readonly name?: string;
  readonly from: string;
  readonly listener?: string;
  readonly commands: readonly Command[];
}

export interface OpenStep {
  readonly kind: 'open';
  readonly pos: SourcePos;
  readonly session: string;
  readonly from: string;
  readonly listener?: string;
  readonly expect: ReplyExpectation;
}

export interface SendStep {
  readonly kind: 'send';
  readonly pos: SourcePos;
  readonly session: string;
  readonly command: Command;
}

export interface AdvanceStep {
  readonly kind: 'advance';
  readonly pos: SourcePos;
  readonly byMs?: number;
  readonly toMs?: number;
}

export type Check =
  | {
      readonly kind: 'counter';
      readonly pos: SourcePos;
      readonly metric: MetricName;
      readonly monitor: string;
      readonly cidr: string;
      readonly start: number;
      readonly end: number;
      readonly smoothed: boolean;
      readonly value: NumberMatch;
    }
  | {
      readonly kind: 'series';
      readonly pos: SourcePos;
      readonly name: string;
      /** IP, CIDR or string key. */
      readonly key: string;
      readonly start: number;
      readonly end: number;
      readonly value: NumberMatch;
    }
  | {
      readonly kind: 'gauge';
      readonly pos: SourcePos;
      readonly service: string;
      readonly cidr: string;
      readonly listener?: string;
      readonly value: NumberMatch;
    }
  | {
      readonly kind: 'log';
      readonly pos: SourcePos;
      /** Only the scripts' print output (`printed:`) or every log line (`log:`). */
      readonly printed: boolean;
      readonly pattern: TextMatch;
      readonly level?: number;
      readonly count: NumberMatch;
    }
  | { readonly kind: 'delivered'; readonly pos: SourcePos; readonly value: NumberMatch };

export interface AssertStep {
  readonly kind: 'assert';
  readonly pos: SourcePos;
  readonly checks: readonly Check[];
}

/** Outcome tallies of a bulk step: "ok", a reply code ("421"), a class ("4xx"), or "tarpitted". */
export interface OutcomeCheck {
  readonly pos: SourcePos;
  readonly outcome: string;
  readonly value: NumberMatch;
}

export interface BulkStep {
  readonly kind: 'bulk';
  readonly pos: SourcePos;
  readonly sessions: number;
  /** CIDR (or single address) the sessions come from. */
  readonly from: string;
  readonly overMs: number;
  readonly pick: 'sequential' | 'random';
  readonly seed: number;
  readonly commands: readonly Command[];
  readonly expect: readonly OutcomeCheck[];
}

export type Step = SeedStep | SessionStep | OpenStep | SendStep | AdvanceStep | AssertStep | BulkStep;
export type StepKind = Step['kind'];

export interface PolicySpec {
  readonly pos: SourcePos;
  /** Absolute path of a moonwatch config to take monitors, scripts and limits from. */
  readonly config?: string;
  /** Absolute path of the scripts directory. */
  readonly scripts?: string;
  /** Modules to load, in order; with `config`, a subset of the config's list. */
  readonly modules?: readonly string[];
  readonly monitors?: readonly string[];
  readonly hostname?: string;
  readonly receptionUnit?: 'recipient' | 'message';
  readonly budget?: { readonly instructions: number; readonly wallMs: number };
  /** Sieve scripts per phase (docs/sieve.md); with `config`, replaces the config's. */
  readonly sieve?: SieveScriptsOptions;
  /** What msys.dnsLookup answers ("name TYPE" → records or a failure code). */
  readonly dns?: Record<string, DnsAnswer>;
}

export interface Fixture {
  readonly file: string;
  readonly name: string;
  readonly pos: SourcePos;
  readonly policy: PolicySpec;
  readonly startMs: number;
  /** Whether a tarpit moves the virtual clock on by its delay (a client really waits that long). */
  readonly tarpitAdvancesClock: boolean;
  readonly steps: readonly Step[];
}
