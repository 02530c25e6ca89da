/**
 * Compares a reply with what the fixture expected, and words both sides for
 * the failure report ("expected 550 5.1.1 ..., got 250 2.1.5 Accepted").
 */
import { formatDuration } from './duration.ts';
import type { ReplyExpectation } from './fixture.ts';
import { describeText, textMatches } from './match.ts';
import type { Reply } from './session-driver.ts';

/** The list of ways the reply differs from the expectation; empty when it matches. */
export function replyMismatches(e: ReplyExpectation, r: Reply): string[] {
  if (e.any) return [];
  const out: string[] = [];
  if (e.outcome !== undefined && outcomeOf(r.code) !== e.outcome) out.push(`${e.outcome === 'ok' ? 'an' : 'a'} ${e.outcome} reply (${OUTCOME_RANGE[e.outcome]})`);
  if (e.code !== undefined && r.code !== e.code) out.push(`code ${e.code}`);
  if (e.enhanced !== undefined && r.enhanced !== e.enhanced) out.push(`enhanced code ${e.enhanced}`);
  if (e.text !== undefined && !textMatches(e.text, r.text)) out.push(`text matching ${describeText(e.text)}`);
  if (e.disconnect !== undefined && r.disconnect !== e.disconnect) out.push(e.disconnect ? 'the server to close the session' : 'the session to stay open');
  const tarpit = e.tarpitMs ?? 0;
  if (tarpit === 'any' ? r.tarpitMs === 0 : r.tarpitMs !== tarpit) {
    out.push(tarpit === 'any' ? 'a tarpit delay' : tarpit === 0 ? 'no tarpit delay' : `a tarpit of ${formatDuration(tarpit)}`);
  }
  if (e.fault !== undefined && r.fault !== e.fault) out.push(e.fault ? 'a script-fault reply' : 'a reply that is not a script fault');
  return out;
}

const OUTCOME_RANGE = { ok: '2xx/3xx', tempfail: '4xx', reject: '5xx' } as const;

function outcomeOf(code: number): 'ok' | 'tempfail' | 'reject' {
  return code >= 500 ? 'reject' : code >= 400 ? 'tempfail' : 'ok';
}

export function describeExpectation(e: ReplyExpectation): string {
  if (e.any) return 'any reply';
  const parts: string[] = [];
  if (e.code !== undefined) parts.push(String(e.code));
  else if (e.outcome !== undefined) parts.push(`${e.outcome} (${OUTCOME_RANGE[e.outcome]})`);
  if (e.enhanced !== undefined) parts.push(e.enhanced);
  if (e.text !== undefined) parts.push(`text ${describeText(e.text)}`);
  const notes: string[] = [];
  if (e.disconnect === true) notes.push('server closes');
  if (e.disconnect === false) notes.push('session stays open');
  const tarpit = e.tarpitMs ?? 0;
  notes.push(tarpit === 'any' ? 'tarpitted' : tarpit === 0 ? 'no tarpit' : `tarpit ${formatDuration(tarpit)}`);
  if (e.fault !== undefined) notes.push(e.fault ? 'script fault' : 'no script fault');
  if (parts.length === 0) parts.push(e.disconnect === true ? 'a closing reply' : 'a reply');
  return `${parts.join(' ')} [${notes.join(', ')}]`;
}

export function describeReply(r: Reply | undefined): string {
  if (r === undefined) return 'no reply';
  const notes = [
    r.disconnect ? 'server closes' : 'session stays open',
    r.tarpitMs === 0 ? 'no tarpit' : `tarpit ${formatDuration(r.tarpitMs)}`,
    ...(r.fault ? ['script fault'] : []),
    ...(r.source === 'front' ? ['answered by the front'] : []),
  ];
  return `${r.code}${r.enhanced === '' ? '' : ` ${r.enhanced}`} ${r.text} [${notes.join(', ')}]`;
}
