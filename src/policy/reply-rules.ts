import type { PhaseName } from './phases.ts';
import type { Verdict } from './verdict.ts';

/**
 * What reply a verdict may carry at each phase, checked once here so every
 * front (the SMTP listener, the fixture harness, anything later) gets the same
 * answer: a verdict that breaks a rule is replaced by the failure mode and
 * logged as a policy fault (spec lua-policy-api §17 #5), never sent.
 *
 * The rules (issue 16):
 * - a code is an integer from 200 to 599;
 * - a rejecting verdict (reject, tempfail, disconnect) carries no 1xx, 2xx or
 *   3xx code, a reject no 4xx and a tempfail no 5xx;
 * - 354 answers the DATA command itself, which no policy phase does (the data
 *   phases run on the received message), so no phase may send it, nor any
 *   other 3xx;
 * - the greeting (accept, connect) and the EHLO reply are fixed: a script
 *   cannot replace them with a success code of its own;
 * - MAIL and the message phases succeed with 250, RCPT with 250, 251 or 252.
 */
const SUCCESS_CODES: Readonly<Record<PhaseName, readonly number[]>> = Object.freeze({
  accept: [],
  connect: [],
  ehlo: [],
  mailfrom: [250],
  rcptto: [250, 251, 252],
  data: [250],
  data_spool: [250],
  each_rcpt: [250],
  // The recipient-list hooks run at the DATA command, whose 354 is fixed.
  rcpt_list: [],
  rcpt_list_final: [],
  post_each_rcpt: [250],
  // set_binding has no vctx: it cannot set a reply.
  set_binding: [],
  final_validation: [250],
  dealloc: [],
});

/** Why the verdict may not be sent at this phase, or undefined when it may. */
export function replyViolation(verdict: Verdict, phase: PhaseName): string | undefined {
  const code = verdict.code;
  if (code === undefined) return undefined;
  if (!Number.isInteger(code) || code < 200 || code > 599) return `reply code ${code} is outside 200-599`;
  const klass = Math.floor(code / 100);
  if (verdict.action !== 'continue') {
    if (klass < 4) return `a ${verdict.action} verdict cannot carry the success code ${code}`;
    if (verdict.action === 'reject' && klass !== 5) return `a reject verdict needs a 5xx code, not ${code}`;
    if (verdict.action === 'tempfail' && klass !== 4) return `a tempfail verdict needs a 4xx code, not ${code}`;
    return undefined;
  }
  if (klass >= 4) return undefined; // a continue carrying 4xx/5xx is a rejection by another name
  if (code === 354) return `354 answers only the DATA command, which no policy phase replies to (phase ${phase})`;
  if (klass === 3) return `${code} is not a reply of the ${phase} phase`;
  const allowed = SUCCESS_CODES[phase];
  if (allowed.length === 0) return `the ${phase} phase's success reply is fixed; a script cannot send ${code}`;
  if (!allowed.includes(code)) return `${code} is not a success reply of the ${phase} phase (allowed: ${allowed.join(', ')})`;
  return undefined;
}
