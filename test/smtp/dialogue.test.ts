/** The socket-free dialogue rules both fronts use (src/smtp/dialogue.ts). */
import { describe, expect, it } from 'vitest';
import { countsAsRejection, DialogueReplies, DialogueState, verbOf, verbOfLine } from '../../src/smtp/dialogue.ts';

const replies = new DialogueReplies('mx.example.test', 'moonwatch');
const fresh = (maxErrors = 20, maxNonProgressing = 100): DialogueState => new DialogueState(replies, { maxErrors, maxNonProgressing });

describe('dialogue rules', () => {
  it('reads the verb from a command line as bytes exactly as from text', () => {
    for (const line of ['EHLO x', 'ehlo', 'MAIL FROM:<a>', 'rcpt to:<b>', 'DATA', 'QUIT ', 'XCLIENT ADDR=1', 'starttls', 'NOOPX', 'NOO', 'HELP me', 'VRFY a', 'RSET', 'XYZZY', 'MAILFROM', '']) {
      expect(verbOfLine(Buffer.from(line, 'latin1')), line).toBe(verbOf(line));
    }
    expect(verbOf('mail from:<a>')).toBe('MAIL');
    expect(verbOf('XYZZY')).toBe('OTHER');
  });

  it('refuses commands out of order with the listener\'s 503 texts', () => {
    const d = fresh();
    expect(d.refuse('MAIL')?.text).toBe('Error: send HELO/EHLO first');
    d.accepted('EHLO');
    expect(d.refuse('RCPT')?.text).toBe('Error: need MAIL command');
    expect(d.refuse('DATA')?.text).toBe('Error: need RCPT command');
    d.accepted('MAIL');
    expect(d.refuse('MAIL')?.text).toBe('Error: nested MAIL command');
    d.accepted('RCPT');
    expect(d.refuse('DATA')).toBeUndefined();
  });

  it('says which commands reset the transaction, and numbers transactions by finished DATA', () => {
    const d = fresh();
    d.accepted('EHLO');
    expect(d.resetsTransaction('EHLO')).toBe(false);
    d.accepted('MAIL');
    expect(d.resetsTransaction('EHLO')).toBe(true);
    expect(d.resetsTransaction('RSET')).toBe(true);
    d.accepted('RCPT');
    expect(d.transaction).toBe(1);
    d.dataFinished(true);
    expect(d.transaction).toBe(2);
    expect(d.resetsTransaction('MAIL')).toBe(true);
  });

  it('ends the session after max_errors 4xx/5xx, and after too many commands that deliver nothing', () => {
    const d = fresh(3, 2);
    expect(d.replied(550)).toBeUndefined();
    expect(d.replied(250)).toBeUndefined();
    expect(d.replied(451)).toBeUndefined();
    expect(d.replied(503)).toBe(replies.tooManyErrors);
    expect(d.nonProgress('EHLO')).toBeUndefined();
    expect(d.nonProgress('NOOP')).toBeUndefined();
    expect(d.nonProgress('EHLO')).toBeUndefined();
    expect(d.nonProgress('RSET')).toBe(replies.tooManyNonProgressing);
  });

  it('counts the front\'s own refusals as rejections, but not timeouts or shutdown', () => {
    expect(countsAsRejection(replies.needHelo, replies)).toBe(true);
    expect(countsAsRejection(replies.tooManyNonProgressing, replies)).toBe(true);
    expect(countsAsRejection(replies.slowData, replies)).toBe(true);
    expect(countsAsRejection(replies.timeout, replies)).toBe(false);
    expect(countsAsRejection(replies.shutdown, replies)).toBe(false);
    expect(countsAsRejection(replies.rsetOk, replies)).toBe(false);
    expect(replies.greeting.text).toBe('mx.example.test ESMTP moonwatch');
    expect(new DialogueReplies('mx', '').greeting.text).toBe('mx ESMTP');
  });
});
