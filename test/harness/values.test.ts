import { describe, expect, it } from 'vitest';
import { formatAddress, parseCidr } from '../../src/audit/address.ts';
import { addressInBlock } from '../../src/harness/addresses.ts';
import { formatDuration, parseDuration, parseInstant } from '../../src/harness/duration.ts';
import { buildMessage } from '../../src/harness/message.ts';
import { describeNumber, numberMatches, parseNumberMatch, parseTextMatch, parseWindowRange, textMatches } from '../../src/harness/match.ts';

describe('durations and instants', () => {
  it('reads the duration forms fixtures use', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration(45)).toBe(45_000);
    expect(parseDuration('12')).toBe(12_000);
    for (const bad of ['', '5 minutes', '5x', 'm5', '-1s', '1h 30m']) expect(parseDuration(bad), bad).toBeUndefined();
    expect(parseDuration(-3)).toBeUndefined();
    expect(formatDuration(5_400_000 + 2_500)).toBe('1h30m2s500ms');
  });

  it('requires an explicit zone so an instant means the same everywhere', () => {
    expect(parseInstant('2025-03-03T10:00:00Z')).toBe(Date.UTC(2025, 2, 3, 10));
    expect(parseInstant('2025-03-03T12:00:00+02:00')).toBe(Date.UTC(2025, 2, 3, 10));
    expect(parseInstant(1741000000)).toBe(1_741_000_000_000);
    expect(parseInstant('2025-03-03T10:00:00')).toBeUndefined();
    expect(parseInstant('2025-02-30T10:00:00Z')).toBeUndefined();
    expect(parseInstant('yesterday')).toBeUndefined();
  });
});

describe('patterns and comparisons', () => {
  it('matches substrings and /regex/flags', () => {
    const sub = parseTextMatch('No such');
    const re = parseTextMatch('/^no such/i');
    expect('error' in sub || 'error' in re).toBe(false);
    if ('error' in sub || 'error' in re) return;
    expect(textMatches(sub, '550 No such user')).toBe(true);
    expect(textMatches(sub, 'no such user')).toBe(false);
    expect(textMatches(re, 'No Such user')).toBe(true);
    expect(textMatches(re, 'x no such')).toBe(false);
    expect(parseTextMatch('/(/')).toHaveProperty('error');
  });

  it('compares numbers exactly, by operator or by inclusive range', () => {
    const cases: [string | number, number, boolean][] = [
      [3, 3, true], ['3', 4, false], ['>= 3', 3, true], ['> 3', 3, false], ['< 10', 9, true],
      ['<= 0', 1, false], ['!= 0', 2, true], ['2..5', 5, true], ['2..5', 6, false], ['= 7', 7, true],
    ];
    for (const [spec, v, want] of cases) expect(numberMatches(parseNumberMatch(spec)!, v), `${spec} vs ${v}`).toBe(want);
    expect(parseNumberMatch('5..2')).toBeUndefined();
    expect(parseNumberMatch('about 3')).toBeUndefined();
    expect(describeNumber(parseNumberMatch('>=3')!)).toBe('>= 3');
    expect(parseWindowRange('0..5')).toEqual({ start: 0, end: 5 });
    expect(parseWindowRange(2)).toEqual({ start: 2, end: 2 });
    expect(parseWindowRange('3..1')).toBeUndefined();
  });
});

describe('addresses in a block', () => {
  it('walks the usable addresses of IPv4 and IPv6 blocks and wraps around', () => {
    const v4 = parseCidr('192.0.2.0/30');
    expect([0, 1, 2].map((i) => formatAddress(addressInBlock(v4, i)))).toEqual(['192.0.2.1', '192.0.2.2', '192.0.2.1']);
    expect(formatAddress(addressInBlock(parseCidr('192.0.2.7/32'), 5))).toBe('192.0.2.7');
    const v6 = parseCidr('2001:db8:ffff:ffff::/64');
    expect(formatAddress(addressInBlock(v6, 0))).toBe('2001:db8:ffff:ffff::1');
    expect(formatAddress(addressInBlock(v6, 0xffffffff))).toBe('2001:db8:ffff:ffff:0:1::');
    expect(formatAddress(addressInBlock(parseCidr('10.0.0.0/8'), 65535))).toBe('10.1.0.0');
  });
});

describe('messages', () => {
  it('writes default headers dated by the virtual clock, and pads to a size', () => {
    const ctx = { mailFrom: 'a@b.test', recipients: ['c@d.test', 'e@f.test'], nowMs: Date.UTC(2025, 2, 3, 10), messageId: '1.1.1@mx' };
    const raw = buildMessage({ headers: [], body: 'hi\nthere' }, ctx).toString();
    expect(raw).toBe([
      'From: <a@b.test>', 'To: <c@d.test>, <e@f.test>', 'Subject: Fixture message',
      'Date: Mon, 03 Mar 2025 10:00:00 +0000', 'Message-ID: <1.1.1@mx>', '', 'hi', 'there', '',
    ].join('\r\n'));
    for (const size of [300, 1000, 1001, 20_000]) {
      const big = buildMessage({ headers: [['Subject', 'x']], body: 'y', size }, ctx);
      expect(big.length).toBeGreaterThanOrEqual(size);
      expect(big.length).toBeLessThanOrEqual(size + 1);
      expect(big.toString().endsWith('\r\n')).toBe(true);
    }
  });
});
