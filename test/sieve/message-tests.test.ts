import { describe, expect, it } from 'vitest';
import type { MessageState } from '../../src/msys/session-state.ts';
import { holds } from './direct.ts';

const RAW =
  'From: "Alice Sender" <Alice@Sender.Example>\r\n' +
  'To: bob@rcpt.test, Carol <carol@rcpt.test>\r\n' +
  'Subject: Quarterly REPORT\r\n' +
  'X-Spam: yes\r\n' +
  '\r\n' +
  'body line\r\n';

function message(extra: Partial<MessageState> = {}): MessageState {
  return { id: '1.1.1', mailFrom: 'bounce@sender.example', recipients: ['bob@rcpt.test', 'carol@rcpt.test'], raw: Buffer.from(RAW), ...extra };
}

const data = { phase: 'data' as const, state: { message: message() } };

describe('header (RFC 5228 5.7)', () => {
  it.each([
    ['header :is "subject" "quarterly report"', true], // default comparator i;ascii-casemap
    ['header :comparator "i;octet" :is "Subject" "quarterly report"', false],
    ['header :contains "Subject" "report"', true],
    ['header :matches ["X-Spam", "X-Other"] "y*"', true],
    ['header :regex "Subject" "^quarterly [a-z]+$"', true],
    ['header :is "Missing" ""', false],
    ['header "X-Spam" "yes"', true], // :is by default
    ['header :count "eq" :comparator "i;ascii-numeric" "To" "1"', true],
  ])('%s → %s', (test, want) => {
    expect(holds(test, data)).toBe(want);
  });
});

describe('address (RFC 5228 5.1)', () => {
  it.each([
    ['address :is "From" "alice@sender.example"', true],
    ['address :all :comparator "i;octet" :is "From" "alice@sender.example"', false],
    ['address :localpart :is "To" "carol"', true],
    ['address :domain :is ["To", "Cc"] "rcpt.test"', true],
    ['address :domain :matches "From" "*.example"', true],
    ['address :count "eq" :comparator "i;ascii-numeric" "To" "2"', true],
  ])('%s → %s', (test, want) => {
    expect(holds(test, data)).toBe(want);
  });
});

describe('envelope (RFC 5228 5.4)', () => {
  it('reads MAIL FROM and, at rcptto, the current recipient', () => {
    const rcpt = { phase: 'rcptto' as const, state: { message: message({ recipients: [], currentRcpt: 'dave@rcpt.test' }) } };
    expect(holds('envelope :domain :is "from" "sender.example"', rcpt)).toBe(true);
    expect(holds('envelope :localpart :is "to" "dave"', rcpt)).toBe(true);
    expect(holds('envelope :is "to" "bob@rcpt.test"', rcpt)).toBe(false);
    expect(holds('envelope :is "from" "bounce@sender.example"', { phase: 'mailfrom', state: { message: message() } })).toBe(true);
  });

  it('at data, "to" is every accepted recipient', () => {
    expect(holds('envelope :is "to" "carol@rcpt.test"', data)).toBe(true);
    expect(holds('envelope :count "eq" :comparator "i;ascii-numeric" "to" "2"', data)).toBe(true);
  });
});

describe('exists and size (RFC 5228 5.5, 5.9)', () => {
  it.each([
    ['exists "Subject"', true],
    ['exists ["Subject", "X-Spam"]', true],
    ['exists ["Subject", "X-Missing"]', false],
    [`size :over ${RAW.length - 1}`, true],
    [`size :over ${RAW.length}`, false],
    [`size :under ${RAW.length + 1}`, true],
    [`size :under ${RAW.length}`, false],
    ['size :under 1K', true],
  ])('%s → %s', (test, want) => {
    expect(holds(test, data)).toBe(want);
  });
});
