/**
 * The one place a Verdict becomes an SMTP reply. Policy text comes from Lua
 * scripts, so it is treated as untrusted: control characters are replaced
 * (a CR/LF would let a script split the reply), the line is capped at the RFC
 * 5321 reply length, and codes and enhanced codes are checked for consistency
 * with the action so a script mistake cannot turn a rejection into a 250.
 */
import type { Verdict } from '../policy/verdict.ts';

/** The SMTP phases the front answers; "connect" is the greeting. */
export type SmtpPhase = 'connect' | 'ehlo' | 'mailfrom' | 'rcptto' | 'data';

export interface SmtpReply {
  readonly code: number;
  /** RFC 3463 enhanced status code, or "" for replies that carry none (greeting, EHLO). */
  readonly enhanced: string;
  readonly text: string;
  /** The session ends after this reply. */
  readonly close: boolean;
}

/** RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets including the code and CRLF. */
export const MAX_REPLY_LINE = 512;

const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})$/;

interface Defaults {
  readonly code: number;
  readonly enhanced: string;
  readonly text: string;
}

function rejectDefaults(phase: SmtpPhase, hostname: string): Defaults {
  switch (phase) {
    case 'connect':
      return { code: 554, enhanced: '5.7.1', text: `${hostname} Service refused by policy` };
    case 'ehlo':
      return { code: 550, enhanced: '5.7.1', text: 'Client host rejected by policy' };
    case 'mailfrom':
      return { code: 550, enhanced: '5.7.1', text: 'Sender rejected by policy' };
    case 'rcptto':
      return { code: 550, enhanced: '5.7.1', text: 'Recipient rejected by policy' };
    case 'data':
      return { code: 550, enhanced: '5.7.1', text: 'Message rejected by policy' };
  }
}

function tempfailDefaults(phase: SmtpPhase, hostname: string): Defaults {
  return phase === 'connect'
    ? { code: 421, enhanced: '4.7.0', text: `${hostname} Service temporarily unavailable, try again later` }
    : { code: 451, enhanced: '4.7.1', text: 'Temporarily rejected by policy, try again later' };
}

function disconnectDefaults(hostname: string): Defaults {
  return { code: 421, enhanced: '4.7.0', text: `${hostname} Closing connection` };
}

/**
 * The reply for a verdict, or undefined when the front should send its own
 * normal success reply (a plain `continue`).
 *
 * A rejection at connect always ends the session: a client that was not
 * greeted has no session to continue.
 */
export function replyForVerdict(verdict: Verdict, phase: SmtpPhase, hostname: string): SmtpReply | undefined {
  const action = effectiveAction(verdict);
  if (action === 'continue') {
    // A custom 2xx/3xx from policy replaces the success text, but never the
    // greeting or the EHLO capability list, which clients parse.
    if (verdict.code === undefined || phase === 'connect' || phase === 'ehlo') return undefined;
    const code = verdict.code >= 200 && verdict.code < 400 ? verdict.code : successCode(phase);
    return build(code, verdict.enhanced, verdict.text, { code, enhanced: `2.0.0`, text: 'Ok' }, false);
  }
  const defaults =
    action === 'disconnect'
      ? disconnectDefaults(hostname)
      : action === 'reject'
        ? rejectDefaults(phase, hostname)
        : tempfailDefaults(phase, hostname);
  const wanted = action === 'reject' ? 5 : action === 'tempfail' ? 4 : 0;
  let code = defaults.code;
  if (verdict.code !== undefined && Number.isInteger(verdict.code) && verdict.code >= 400 && verdict.code <= 599) {
    // A reject must stay permanent and a tempfail temporary whatever code the script set.
    if (wanted === 0 || Math.floor(verdict.code / 100) === wanted) code = verdict.code;
  }
  const close = action === 'disconnect' || phase === 'connect' || code === 421;
  return build(code, verdict.enhanced, verdict.text, defaults, close);
}

/** A reply the front produces itself (syntax, limits, sink failures), sanitised the same way. */
export function protocolReply(code: number, enhanced: string, text: string, close = code === 421): SmtpReply {
  return build(code, enhanced, text, { code, enhanced, text }, close);
}

/** The wire form without CRLF, e.g. "550 5.1.1 No such user". */
export function formatReply(reply: SmtpReply): string {
  return reply.enhanced === '' ? `${reply.code} ${reply.text}` : `${reply.code} ${reply.enhanced} ${reply.text}`;
}

/** Replaces control characters with spaces, collapses runs of whitespace and trims. */
export function sanitizeText(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]/g, ' ').replace(/\s+/g, ' ').trim();
}

function effectiveAction(v: Verdict): Verdict['action'] {
  // A `continue` carrying a 4xx/5xx is a rejection by another name (isRejection agrees).
  if (v.action === 'continue' && v.code !== undefined && v.code >= 400 && v.code <= 599) {
    return v.code >= 500 ? 'reject' : 'tempfail';
  }
  return v.action;
}

function successCode(phase: SmtpPhase): number {
  return phase === 'connect' ? 220 : 250;
}

function build(code: number, enhanced: string | undefined, text: string | undefined, d: Defaults, close: boolean): SmtpReply {
  const klass = String(code)[0]!;
  let body = sanitizeText(text ?? '');
  // Scripts often write the enhanced code into the text ("5.1.1 No such user"):
  // use it when no separate one was given, and never send it twice.
  const lead = /^([245]\.\d{1,3}\.\d{1,3})(\s+|$)/.exec(body);
  if (lead !== null) body = body.slice(lead[0].length);
  const given = enhanced ?? lead?.[1];
  let enh = '';
  // 3xx replies carry no enhanced code (RFC 2034 §3).
  if (klass === '2' || klass === '4' || klass === '5') {
    const m = given === undefined ? null : ENHANCED.exec(given.trim());
    const dm = ENHANCED.exec(d.enhanced);
    // The class digit always follows the reply code (RFC 3463 §2).
    enh = m !== null ? `${klass}.${m[2]}.${m[3]}` : dm !== null ? `${klass}.${dm[2]}.${dm[3]}` : `${klass}.0.0`;
  }
  if (body === '') body = sanitizeText(d.text);
  const prefix = enh === '' ? `${code} ` : `${code} ${enh} `;
  body = capBytes(body, MAX_REPLY_LINE - 2 - Buffer.byteLength(prefix));
  return { code, enhanced: enh, text: body, close };
}

function capBytes(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  let out = s.slice(0, max);
  while (Buffer.byteLength(out) > max - 3) out = out.slice(0, -1);
  return `${out}...`;
}
