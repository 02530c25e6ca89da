/**
 * The one log line that explains a decision (a rejection, tempfail,
 * disconnect or tarpit): Postfix-style text an operator can grep
 * ("reject: RCPT from unknown[192.0.2.7]: 550 5.1.1 No such user;
 * from=<a@example.net> to=<nobody@example.test> helo=<mx.example.net>
 * module=gate generation=3") and the same facts as fields, with the audit
 * figures the deciding scripts read during that phase.
 */
import type { AuditRead } from '../msys/audit-reads.ts';
import type { SessionState } from '../msys/session-state.ts';
import type { PhaseName } from './phases.ts';
import type { Verdict } from './verdict.ts';

const COMMAND: Readonly<Record<PhaseName, string>> = Object.freeze({
  accept: 'CONNECT',
  connect: 'CONNECT',
  ehlo: 'EHLO',
  mailfrom: 'MAIL',
  rcptto: 'RCPT',
  data: 'DATA',
  data_spool: 'END-OF-MESSAGE',
  each_rcpt: 'END-OF-MESSAGE',
  dealloc: 'QUIT',
} as Record<PhaseName, string>);

/** Whether a phase's verdict is a decision worth explaining. */
export function isDecision(v: Verdict): boolean {
  return v.action !== 'continue' || v.tarpitMs > 0 || (v.code !== undefined && v.code >= 400);
}

export interface DecisionFacts {
  readonly phase: PhaseName;
  readonly verdict: Verdict;
  readonly state: SessionState;
  /** The module that set the reply or faulted; undefined when none did (a protocol limit). */
  readonly module: string | undefined;
  readonly generation: number;
  readonly reads: readonly AuditRead[];
  /** The recipient the phase was about (RCPT, each_rcpt). */
  readonly recipient?: string;
}

/** Fields for the phase's log line (snake_case, one name per fact). */
export function decisionFields(f: DecisionFacts): Record<string, unknown> {
  const v = f.verdict;
  const s = f.state;
  const client = `${s.clientName ?? 'unknown'}[${s.peerText}]`;
  const sender = s.message?.mailFrom;
  const action = v.action === 'continue' ? (v.tarpitMs > 0 ? 'tarpit' : 'continue') : v.action;
  const reply = v.code === undefined ? '' : `${v.code}${v.enhanced === undefined ? '' : ` ${v.enhanced}`}${v.text === undefined ? '' : ` ${v.text}`}`;
  const parts = [
    `${action}: ${COMMAND[f.phase] ?? f.phase.toUpperCase()} from ${client}:`,
    reply === '' ? '' : ` ${reply};`,
    sender === undefined ? '' : ` from=<${sender}>`,
    f.recipient === undefined ? '' : ` to=<${f.recipient}>`,
    s.ehlo === undefined ? '' : ` helo=<${s.ehlo}>`,
    ` module=${f.module ?? '-'}`,
    v.fault === true ? ' fault=yes' : '',
    v.tarpitMs > 0 ? ` tarpit=${v.tarpitMs / 1000}s` : '',
    ` generation=${f.generation}`,
  ];
  return {
    decision: parts.join(''),
    client,
    ...(s.ehlo === undefined ? {} : { helo: s.ehlo }),
    ...(sender === undefined ? {} : { sender }),
    ...(f.recipient === undefined ? {} : { recipient: f.recipient }),
    module: f.module ?? null,
    ...(v.enhanced === undefined ? {} : { enhanced: v.enhanced }),
    ...(v.text === undefined ? {} : { text: v.text }),
    ...(v.fault === true ? { fault: true } : {}),
    audit_reads: f.reads,
  };
}
