import { describe, expect, it } from 'vitest';
import { CONTINUE, type Verdict } from '../../src/policy/verdict.ts';
import { formatReply, MAX_REPLY_LINE, protocolReply, replyForVerdict } from '../../src/smtp/reply.ts';

const v = (x: Partial<Verdict> & Pick<Verdict, 'action'>): Verdict => ({ tarpitMs: 0, ...x });
const wire = (verdict: Verdict, phase: Parameters<typeof replyForVerdict>[1] = 'rcptto') => {
  const r = replyForVerdict(verdict, phase, 'mx.example');
  return r === undefined ? undefined : { line: formatReply(r), close: r.close };
};

describe('verdict → SMTP reply', () => {
  it('leaves a plain continue to the front (undefined)', () => {
    expect(replyForVerdict(CONTINUE, 'mailfrom', 'mx.example')).toBeUndefined();
  });

  it('sends code, enhanced code and text of a rejection', () => {
    expect(wire(v({ action: 'reject', code: 550, enhanced: '5.1.1', text: 'No such user' }))).toEqual({ line: '550 5.1.1 No such user', close: false });
  });

  it('takes the enhanced code from the text when the script wrote it there, and never sends it twice', () => {
    expect(wire(v({ action: 'reject', code: 550, text: '5.7.1 Go away' }))?.line).toBe('550 5.7.1 Go away');
    expect(wire(v({ action: 'reject', code: 550, enhanced: '5.7.1', text: '5.7.1 Go away' }))?.line).toBe('550 5.7.1 Go away');
  });

  it('fills defaults per action and phase', () => {
    expect(wire(v({ action: 'reject' }), 'connect')).toEqual({ line: '554 5.7.1 mx.example Service refused by policy', close: true });
    expect(wire(v({ action: 'tempfail' }), 'mailfrom')?.line).toBe('451 4.7.1 Temporarily rejected by policy, try again later');
    expect(wire(v({ action: 'disconnect' }), 'ehlo')).toEqual({ line: '421 4.7.0 mx.example Closing connection', close: true });
  });

  it('keeps a reject permanent and a tempfail temporary whatever code the script set', () => {
    expect(wire(v({ action: 'reject', code: 451 }))?.line).toMatch(/^550 5\./);
    expect(wire(v({ action: 'tempfail', code: 550 }))?.line).toMatch(/^451 4\./);
    expect(wire(v({ action: 'reject', code: 250 }))?.line).toMatch(/^550 /);
    expect(wire(v({ action: 'reject', code: 99999 }))?.line).toMatch(/^550 /);
  });

  it('fixes the class digit of an enhanced code that contradicts the reply code', () => {
    expect(wire(v({ action: 'reject', code: 550, enhanced: '4.1.1', text: 'x' }))?.line).toBe('550 5.1.1 x');
    expect(wire(v({ action: 'reject', code: 550, enhanced: 'bogus', text: 'x' }))?.line).toBe('550 5.7.1 x');
  });

  it('closes after a disconnect, after any 421 and after any connect rejection', () => {
    expect(wire(v({ action: 'disconnect', code: 550, text: 'bye' }))).toEqual({ line: '550 5.7.0 bye', close: true });
    expect(wire(v({ action: 'tempfail', code: 421, text: 'later' }))?.close).toBe(true);
    expect(wire(v({ action: 'tempfail', code: 450 }), 'connect')?.close).toBe(true);
    expect(wire(v({ action: 'reject', code: 550 }), 'data')?.close).toBe(false);
  });

  it('treats a continue that carries a 4xx/5xx as the rejection it is', () => {
    expect(wire(v({ action: 'continue', code: 550, text: 'no' }))?.line).toBe('550 5.7.1 no');
  });

  it('sends a custom 2xx but never replaces the greeting or the EHLO capability list', () => {
    expect(wire(v({ action: 'continue', code: 250, text: '2.1.5 Fine by me' }))?.line).toBe('250 2.1.5 Fine by me');
    expect(replyForVerdict(v({ action: 'continue', code: 250, text: 'hi' }), 'ehlo', 'mx')).toBeUndefined();
    expect(replyForVerdict(v({ action: 'continue', code: 220, text: 'hi' }), 'connect', 'mx')).toBeUndefined();
  });

  it('strips CR, LF and other control characters from script text', () => {
    const r = wire(v({ action: 'reject', code: 550, text: 'bad\r\n250 2.0.0 injected\x00\ttab' }));
    expect(r?.line).toBe('550 5.7.1 bad 250 2.0.0 injected tab');
    expect(r?.line).not.toMatch(/[\r\n\x00]/);
  });

  it(`caps the reply line at ${MAX_REPLY_LINE} octets including CRLF`, () => {
    const r = replyForVerdict(v({ action: 'reject', code: 550, text: 'é'.repeat(600) }), 'rcptto', 'mx')!;
    expect(Buffer.byteLength(`${formatReply(r)}\r\n`)).toBeLessThanOrEqual(MAX_REPLY_LINE);
    expect(r.text.endsWith('...')).toBe(true);
  });

  it('falls back to the default text when the script gave only whitespace', () => {
    expect(wire(v({ action: 'reject', code: 550, text: ' \r\n ' }))?.line).toBe('550 5.7.1 Recipient rejected by policy');
  });

  it('builds protocol replies the same way', () => {
    expect(formatReply(protocolReply(552, '5.3.4', 'Too big\r\n'))).toBe('552 5.3.4 Too big');
    expect(protocolReply(421, '4.4.2', 'timeout').close).toBe(true);
  });
});
