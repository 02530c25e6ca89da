import { describe, expect, it } from 'vitest';
import { LEVELS } from '../../src/log.ts';
import { replyViolation } from '../../src/policy/reply-rules.ts';
import type { Verdict } from '../../src/policy/verdict.ts';
import { logs, runSession, testEngine } from '../helpers/engine.ts';

const v = (action: Verdict['action'], code?: number): Verdict => ({ action, tarpitMs: 0, ...(code === undefined ? {} : { code }) });

describe('replies a verdict may carry (spec §17 #5, issue 16)', () => {
  it('refuses success codes on rejecting verdicts', () => {
    expect(replyViolation(v('disconnect', 250), 'mailfrom')).toMatch(/disconnect verdict cannot carry the success code 250/);
    expect(replyViolation(v('reject', 354), 'data')).toMatch(/reject verdict cannot carry the success code 354/);
    expect(replyViolation(v('tempfail', 550), 'rcptto')).toMatch(/tempfail verdict needs a 4xx code/);
    expect(replyViolation(v('reject', 451), 'rcptto')).toMatch(/reject verdict needs a 5xx code/);
  });

  it('refuses 354 and other 3xx codes at every phase', () => {
    for (const phase of ['connect', 'ehlo', 'mailfrom', 'rcptto', 'data', 'data_spool', 'each_rcpt'] as const) {
      expect(replyViolation(v('continue', 354), phase)).toMatch(/354 answers only the DATA command/);
      expect(replyViolation(v('continue', 334), phase)).toMatch(/334 is not a reply/);
    }
  });

  it('refuses codes outside 200-599', () => {
    expect(replyViolation(v('continue', 199), 'mailfrom')).toMatch(/outside 200-599/);
    expect(replyViolation(v('reject', 600), 'mailfrom')).toMatch(/outside 200-599/);
    expect(replyViolation(v('reject', 550.5), 'mailfrom')).toMatch(/outside 200-599/);
  });

  it('refuses a success code where the success reply is fixed, and the wrong success code elsewhere', () => {
    expect(replyViolation(v('continue', 250), 'connect')).toMatch(/connect phase's success reply is fixed/);
    expect(replyViolation(v('continue', 220), 'accept')).toMatch(/fixed/);
    expect(replyViolation(v('continue', 250), 'ehlo')).toMatch(/ehlo phase's success reply is fixed/);
    expect(replyViolation(v('continue', 251), 'mailfrom')).toMatch(/251 is not a success reply of the mailfrom phase/);
    expect(replyViolation(v('continue', 221), 'data')).toMatch(/not a success reply of the data phase/);
  });

  it('allows what the protocol allows', () => {
    expect(replyViolation(v('continue'), 'connect')).toBeUndefined();
    expect(replyViolation(v('continue', 250), 'mailfrom')).toBeUndefined();
    expect(replyViolation(v('continue', 251), 'rcptto')).toBeUndefined();
    expect(replyViolation(v('continue', 250), 'each_rcpt')).toBeUndefined();
    expect(replyViolation(v('continue', 550), 'connect')).toBeUndefined();
    expect(replyViolation(v('reject', 554), 'connect')).toBeUndefined();
    expect(replyViolation(v('tempfail', 421), 'ehlo')).toBeUndefined();
    expect(replyViolation(v('disconnect', 421), 'data')).toBeUndefined();
  });
});

const hook = (callout: string, args: string, body: string) => `local m = {}
function m:${callout}(${args})
  ${body}
  return msys.core.VALIDATE_DONE
end
msys.registerModule("replies", m)`;

describe('a forbidden reply from a script becomes the failure mode, logged, not sent', () => {
  // [name, callout, its arguments, body, phase name in the log, key in runSession's verdicts]
  const cases: Array<[string, string, string, string, string, string]> = [
    ['a disconnect with 250 at MAIL', 'validate_mailfrom', 'str, ac, vctx', 'vctx:disconnect(250, "bye")', 'mailfrom', 'mail'],
    ['354 at RCPT', 'validate_rcptto', 'msg, str, ac, vctx', 'vctx:set_code(354, "go ahead")', 'rcptto', 'rcpt0'],
    ['354 after DATA', 'validate_data', 'msg, ac, vctx', 'vctx:set_code(354, "more please")', 'data', 'data'],
    ['250 replacing the greeting', 'validate_connect', 'ac, vctx', 'vctx:set_code(250, "hi")', 'connect', 'connect'],
    ['a 252 at MAIL', 'validate_mailfrom', 'str, ac, vctx', 'vctx:set_code(252, "maybe")', 'mailfrom', 'mail'],
  ];
  for (const [name, callout, args, body, phase, key] of cases) {
    it(`maps ${name} to 451 4.3.0 and logs phase, code and why`, async () => {
      const t = await testEngine({ scripts: { 'replies.lua': hook(callout, args, body) } });
      const { verdicts } = await runSession(t, '192.0.2.1', { mail: '<a@b.test>', rcpts: ['<c@d.test>'], data: 'Subject: x\r\n\r\nbody\r\n' });
      expect(verdicts[key]).toMatchObject({ action: 'tempfail', code: 451, enhanced: '4.3.0', fault: true });
      const [line] = logs(t.records, / error: forbidden reply: /, LEVELS.error);
      expect(line).toMatchObject({ phase, fault: 'verdict' });
      const decision = t.records.find((r) => r.msg === 'phase decision' && r['phase'] === phase);
      expect(decision).toMatchObject({ verdict: 'tempfail', code: 451 });
    });
  }
});
