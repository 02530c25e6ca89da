import { describe, expect, it } from 'vitest';
import {
  cidrContains,
  formatAddress,
  formatCidr,
  hostCidr,
  ipv4,
  parseAddress,
  parseCidr,
  sameAddress,
} from '../../src/audit/address.ts';
import { isMoonwatchError } from '../../src/errors.ts';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isMoonwatchError(err)) return err.code;
    throw err;
  }
  throw new Error('expected a MoonwatchError');
}

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected an error');
}

describe('parseAddress', () => {
  it('parses dotted-quad IPv4 and formats it back', () => {
    const a = parseAddress('192.0.2.33');
    expect(a.family).toBe(4);
    expect(a.w0).toBe(0xc0000221);
    expect(formatAddress(a)).toBe('192.0.2.33');
    expect(formatAddress(parseAddress('255.255.255.255'))).toBe('255.255.255.255');
    expect(formatAddress(parseAddress('0.0.0.0'))).toBe('0.0.0.0');
  });

  it('gives every dotted quad the value of its four parts, and a near-miss the reason it is refused', () => {
    // The common case skips the general parser (src/audit/address.ts, dottedQuad): both must agree.
    let seed = 7;
    const octet = () => (seed = (seed * 1103515245 + 12345) % 2147483648) % 256;
    for (let i = 0; i < 2000; i++) {
      const o = [octet(), octet(), octet(), octet()];
      const a = parseAddress(o.join('.'));
      expect(a.family).toBe(4);
      expect(a.w0).toBe(((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0);
      expect(formatAddress(a)).toBe(o.join('.'));
    }
    for (const [text, why] of [
      ['1.2.3.4.', /four dotted parts|empty part/],
      ['.1.2.3', /empty part/],
      ['1.2.3.04', /leading zeros/],
      ['1.2.3.1000', /out of range/],
      ['1.2.3.256', /out of range/],
      ['1.2.3', /four dotted parts/],
      ['1.2.3.4x', /host names|not an IPv4/],
    ] as const) {
      expect(codeOf(() => parseAddress(text))).toBe('MW_ERR_BAD_ADDRESS');
      expect(messageOf(() => parseAddress(text))).toMatch(why);
    }
    expect(formatAddress(parseAddress('::ffff:192.0.2.1'))).toBe('192.0.2.1');
    expect(formatCidr(parseCidr('192.0.2.0/24'))).toBe('192.0.2.0/24');
  });

  it.each([
    ['010.0.0.1', /leading zeros/],
    ['127.1', /four dotted parts/],
    ['0x7f.1', /hexadecimal/],
    ['0x7f.0.0.1', /hexadecimal/],
    ['3232235777', /not as one number/],
    ['256.1.1.1', /out of range/],
    ['1.2.3.4.5', /four dotted parts/],
    ['1..2.3', /four dotted parts|empty part/],
    ['1.2.3.', /empty part/],
    ['mail.example.com', /host names are not resolved/],
    ['1.2.3.4 ', /not an IPv4 or IPv6 address/],
    ['', /empty/],
    ['10.0.0.0/8', /not a CIDR block/],
  ])('rejects %j with MW_ERR_BAD_ADDRESS', (text, why) => {
    expect(codeOf(() => parseAddress(text))).toBe('MW_ERR_BAD_ADDRESS');
    expect(messageOf(() => parseAddress(text))).toMatch(why);
  });

  it.each([
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    '12345::1',
    ':1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7::8',
    '::1.2.3.4:5',
    'fe80::1%',
    'fe80::1%eth/0',
    '[::1',
    '[10.0.0.1]',
    'g::1',
  ])('rejects malformed IPv6 %j with MW_ERR_BAD_ADDRESS', (text) => {
    expect(codeOf(() => parseAddress(text))).toBe('MW_ERR_BAD_ADDRESS');
  });

  it('rejects non-strings and over-long input', () => {
    expect(codeOf(() => parseAddress(42 as unknown as string))).toBe('MW_ERR_BAD_ADDRESS');
    expect(codeOf(() => parseAddress('1'.repeat(200)))).toBe('MW_ERR_BAD_ADDRESS');
  });

  it('gives the same key for case, compressed and expanded IPv6 forms', () => {
    const forms = ['2001:db8::1', '2001:DB8::1', '2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8:0:0:0:0:0:1', '[2001:db8::1]'];
    const parsed = forms.map(parseAddress);
    for (const p of parsed) expect(sameAddress(p, parsed[0]!)).toBe(true);
    expect(formatAddress(parsed[0]!)).toBe('2001:db8::1');
  });

  it('strips zone ids', () => {
    expect(sameAddress(parseAddress('fe80::1%eth0'), parseAddress('fe80::1'))).toBe(true);
    expect(sameAddress(parseAddress('[fe80::1%25]'), parseAddress('fe80::1'))).toBe(true);
  });

  it('maps IPv4-mapped IPv6 to the IPv4 address, dotted or hex', () => {
    const v4 = parseAddress('192.0.2.1');
    expect(sameAddress(parseAddress('::ffff:192.0.2.1'), v4)).toBe(true);
    expect(sameAddress(parseAddress('::FFFF:c000:201'), v4)).toBe(true);
    expect(sameAddress(parseAddress('0:0:0:0:0:ffff:192.0.2.1'), v4)).toBe(true);
    expect(parseAddress('::ffff:192.0.2.1').family).toBe(4);
    // IPv4-compatible (deprecated) is a different, IPv6 address.
    expect(parseAddress('::192.0.2.1').family).toBe(6);
  });

  it('reads "localhost" as 127.0.0.1', () => {
    expect(formatAddress(parseAddress('localhost'))).toBe('127.0.0.1');
    expect(formatAddress(parseAddress('LocalHost'))).toBe('127.0.0.1');
  });

  it('formats IPv6 canonically (RFC 5952)', () => {
    const cases: Array<[string, string]> = [
      ['::', '::'],
      ['::1', '::1'],
      ['1::', '1::'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
      ['fe80::A:b:C:d', 'fe80::a:b:c:d'],
    ];
    for (const [input, want] of cases) expect(formatAddress(parseAddress(input))).toBe(want);
  });

  it('round-trips random IPv6 addresses through format and parse', () => {
    let x = 7;
    const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0);
    for (let i = 0; i < 500; i++) {
      // Zero some groups often so compression paths are exercised.
      const words = [next(), next() & (i % 3 === 0 ? 0 : 0xffffffff), next() & (i % 2 === 0 ? 0xffff : 0xffffffff), next()];
      const text = words.map((w) => `${(w >>> 16).toString(16)}:${(w & 0xffff).toString(16)}`).join(':');
      const a = parseAddress(text);
      expect(sameAddress(parseAddress(formatAddress(a)), a)).toBe(true);
    }
  });
});

describe('parseCidr', () => {
  const peer4 = parseAddress('198.51.100.77');
  const peer6 = parseAddress('2001:db8:1:2:3:4:5:6');

  it('parses a bare address as the host block', () => {
    expect(formatCidr(parseCidr('10.1.2.3'))).toBe('10.1.2.3/32');
    expect(formatCidr(parseCidr('2001:db8::1'))).toBe('2001:db8::1/128');
  });

  it('parses explicit blocks, bracketed IPv6 too', () => {
    expect(formatCidr(parseCidr('10.0.0.0/8'))).toBe('10.0.0.0/8');
    expect(formatCidr(parseCidr('[2001:db8::]/64'))).toBe('2001:db8::/64');
    expect(formatCidr(parseCidr('0.0.0.0/0'))).toBe('0.0.0.0/0');
    expect(formatCidr(parseCidr('::/0'))).toBe('::/0');
  });

  it('accepts every mask length /0–/32 and /0–/128', () => {
    for (let m = 0; m <= 32; m++) expect(parseCidr('0.0.0.0/' + m).prefix).toBe(m);
    for (let m = 0; m <= 128; m++) expect(parseCidr('::/' + m).prefix).toBe(m);
  });

  it('rejects host bits set and suggests the network address', () => {
    expect(codeOf(() => parseCidr('10.1.2.3/8'))).toBe('MW_ERR_CIDR_HOST_BITS');
    expect(messageOf(() => parseCidr('10.1.2.3/8'))).toContain('did you mean 10.0.0.0/8?');
    expect(messageOf(() => parseCidr('2001:db8::1/64'))).toContain('did you mean 2001:db8::/64?');
  });

  it.each(['10.0.0.0/33', '::/129', '10.0.0.0/-1', '10.0.0.0/', '10.0.0.0/x', '10.0.0.0/1234', '/33', '/-1', '10.0.0.0/08', '::/064', '/08'])(
    'rejects mask %j with MW_ERR_BAD_MASK',
    (text) => {
      expect(codeOf(() => parseCidr(text, peer4))).toBe('MW_ERR_BAD_MASK');
    },
  );

  it('rejects /129 relative to an IPv6 peer and /33 relative to an IPv4 peer', () => {
    expect(codeOf(() => parseCidr('/129', peer6))).toBe('MW_ERR_BAD_MASK');
    expect(codeOf(() => parseCidr('/33', peer4))).toBe('MW_ERR_BAD_MASK');
    expect(parseCidr('/33', peer6).prefix).toBe(33);
  });

  it('resolves relative masks against the peer', () => {
    expect(formatCidr(parseCidr('/24', peer4))).toBe('198.51.100.0/24');
    expect(formatCidr(parseCidr('/32', peer4))).toBe('198.51.100.77/32');
    expect(formatCidr(parseCidr('/0', peer4))).toBe('0.0.0.0/0');
    expect(formatCidr(parseCidr('/64', peer6))).toBe('2001:db8:1:2::/64');
  });

  it('honours an explicit /32 on an IPv6 peer literally', () => {
    expect(formatCidr(parseCidr('/32', peer6))).toBe('2001:db8::/32');
  });

  it('needs a peer for relative masks', () => {
    expect(codeOf(() => parseCidr('/24'))).toBe('MW_ERR_NO_PEER');
  });

  it('points a bare mask number at the relative form', () => {
    expect(codeOf(() => parseCidr('24', peer4))).toBe('MW_ERR_BAD_ADDRESS');
    expect(messageOf(() => parseCidr('24', peer4))).toContain('"/24"');
  });

  it('maps IPv4-mapped blocks to IPv4 blocks', () => {
    expect(formatCidr(parseCidr('::ffff:192.0.2.0/120'))).toBe('192.0.2.0/24');
    expect(formatCidr(parseCidr('::ffff:0.0.0.0/96'))).toBe('0.0.0.0/0');
    expect(formatCidr(parseCidr('::ffff:192.0.2.1'))).toBe('192.0.2.1/32');
  });

  it('accepts localhost with a mask', () => {
    expect(formatCidr(parseCidr('localhost/32'))).toBe('127.0.0.1/32');
  });

  it('rejects bad addresses inside a block', () => {
    expect(codeOf(() => parseCidr('010.0.0.0/8'))).toBe('MW_ERR_BAD_ADDRESS');
    expect(codeOf(() => parseCidr('127.1/16'))).toBe('MW_ERR_BAD_ADDRESS');
  });

  it('tests membership by family and prefix', () => {
    const block = parseCidr('198.51.100.0/24');
    expect(cidrContains(block, peer4)).toBe(true);
    expect(cidrContains(block, parseAddress('198.51.101.1'))).toBe(false);
    expect(cidrContains(parseCidr('/0', peer4), peer6)).toBe(false);
    expect(cidrContains(hostCidr(ipv4(0xc6336407)), parseAddress('198.51.100.7'))).toBe(true);
  });
});
