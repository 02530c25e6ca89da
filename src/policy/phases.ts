/**
 * The SMTP phases a session runs, declared once (spec lua-policy-api §2.1).
 * Everything that needs to know phase order, callout names or argument lists
 * reads this table: the runner, registerModule's check, the logs.
 */
export type CalloutArg = 'ac' | 'vctx' | 'msg' | 'str' | 'rcpts';

export interface PhaseSpec {
  readonly name: PhaseName;
  /** The method a module defines to take part in the phase. */
  readonly callout: string;
  /** Arguments after the implicit self, in order. */
  readonly args: readonly CalloutArg[];
  /** self is the module table, not the session table (callouts without a vctx, spec §2.4). */
  readonly selfIsModule?: boolean;
  /** Position in PHASES: per-phase tables are arrays indexed by it (a Map lookup per phase cost more). */
  readonly index: number;
}

export type PhaseName =
  | 'accept'
  | 'connect'
  | 'ehlo'
  | 'mailfrom'
  | 'rcptto'
  | 'data'
  | 'data_spool'
  | 'rcpt_list'
  | 'rcpt_list_final'
  | 'each_rcpt'
  | 'post_each_rcpt'
  | 'set_binding'
  | 'final_validation'
  | 'dealloc';

const PHASE_LIST: readonly Omit<PhaseSpec, 'index'>[] = [
  { name: 'accept', callout: 'core_validate_accept', args: ['ac', 'vctx'] },
  { name: 'connect', callout: 'validate_connect', args: ['ac', 'vctx'] },
  { name: 'ehlo', callout: 'validate_ehlo', args: ['str', 'ac', 'vctx'] },
  { name: 'mailfrom', callout: 'validate_mailfrom', args: ['str', 'ac', 'vctx'] },
  { name: 'rcptto', callout: 'validate_rcptto', args: ['msg', 'str', 'ac', 'vctx'] },
  { name: 'data', callout: 'validate_data', args: ['msg', 'ac', 'vctx'] },
  { name: 'data_spool', callout: 'validate_data_spool', args: ['msg', 'ac', 'vctx'] },
  // After the spool: the recipient list (frozen by _final), then per recipient (spec §2.1 [REC] order).
  { name: 'rcpt_list', callout: 'validate_rcptto_list', args: ['rcpts', 'vctx'] },
  { name: 'rcpt_list_final', callout: 'validate_rcptto_list_final', args: ['rcpts', 'vctx'] },
  { name: 'each_rcpt', callout: 'validate_data_spool_each_rcpt', args: ['msg', 'ac', 'vctx'] },
  { name: 'post_each_rcpt', callout: 'core_post_msg_each_rcpt', args: ['msg', 'ac', 'vctx'] },
  { name: 'set_binding', callout: 'validate_set_binding', args: ['msg'], selfIsModule: true },
  { name: 'final_validation', callout: 'core_final_validation', args: ['msg', 'ac', 'vctx'] },
  // Only for modules that ran earlier in the session; self is still available.
  { name: 'dealloc', callout: 'validate_dealloc', args: [] },
];

/** Every spec has the same fields in the same order, so reads of them stay monomorphic. */
export const PHASES: readonly PhaseSpec[] = Object.freeze(
  PHASE_LIST.map((p, index) => Object.freeze({ name: p.name, callout: p.callout, args: p.args, selfIsModule: p.selfIsModule === true, index })),
);

export const PHASE: Readonly<Record<PhaseName, PhaseSpec>> = Object.freeze(
  Object.fromEntries(PHASES.map((p) => [p.name, p])) as Record<PhaseName, PhaseSpec>,
);

/** Lifecycle methods run by the generation, not by a session. */
export const LIFECYCLE_METHODS: readonly string[] = ['init', 'deinit'];

/**
 * Hook names Momentum scripts define that this host recognises but does not
 * run (delivery side). A module defining only these is still a valid
 * registration; the generation names them once at info.
 */
export const RECOGNISED_NOT_RUN: readonly string[] = [
  'core_pre_msg_each_rcpt',
  'core_pre_mailq_message_requeue',
  'msg_gen_data_spool',
  'core_config_get_message_routing_domain',
  'core_validate_auth_hook',
  'ac_auth_perform_auth',
  'ac_auth_log_auth_failure',
  'core_log_delivery_v1',
  'core_log_permanent_failure_v1',
  'core_log_transient_failure_v1',
];

const USABLE = new Set<string>([...PHASES.map((p) => p.callout), ...LIFECYCLE_METHODS, ...RECOGNISED_NOT_RUN]);

export function isUsableMethod(name: string): boolean {
  return USABLE.has(name);
}
