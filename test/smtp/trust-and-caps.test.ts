import { describe, expect, it } from 'vitest';
import { ConnectionCaps } from '../../src/smtp/caps.ts';
import { createTrustMatcher } from '../../src/smtp/trust.ts';

describe('XCLIENT trust', () => {
  const trusted = createTrustMatcher(['127.0.0.0/8', '2001:db8::/32', '192.0.2.7']);

  it('matches IPv4 and IPv6 blocks and single addresses', () => {
    expect(trusted('127.1.2.3')).toBe(true);
    expect(trusted('2001:db8:1::9')).toBe(true);
    expect(trusted('192.0.2.7')).toBe(true);
    expect(trusted('192.0.2.8')).toBe(false);
    expect(trusted('2001:db9::1')).toBe(false);
  });

  it('treats an IPv4-mapped IPv6 peer as its IPv4 address', () => {
    expect(trusted('::ffff:127.0.0.1')).toBe(true);
    expect(trusted('::ffff:10.0.0.1')).toBe(false);
    expect(createTrustMatcher(['::ffff:10.0.0.0/104'])('10.1.2.3')).toBe(true);
  });

  it('trusts nobody with an empty list, and never a malformed address', () => {
    expect(createTrustMatcher([])('127.0.0.1')).toBe(false);
    expect(trusted('not-an-ip')).toBe(false);
  });
});

describe('connection caps', () => {
  it('counts per IP and in total, and frees slots on release', () => {
    const caps = new ConnectionCaps(3, 2);
    expect(caps.tryAcquire('a')).toBe('ok');
    expect(caps.tryAcquire('a')).toBe('ok');
    expect(caps.tryAcquire('a')).toBe('per-ip');
    expect(caps.tryAcquire('b')).toBe('ok');
    expect(caps.tryAcquire('c')).toBe('total');
    expect(caps.total).toBe(3);
    caps.release('a');
    expect(caps.countFor('a')).toBe(1);
    expect(caps.tryAcquire('c')).toBe('ok');
    caps.release('unknown');
    expect(caps.total).toBe(3);
  });
});
