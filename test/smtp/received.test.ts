import { describe, expect, it } from 'vitest';
import { receivedHeader, receivedHeaderBytes, rfc5322Date } from '../../src/smtp/received.ts';

const base = {
  helo: 'client.example',
  address: '192.0.2.7',
  hostname: 'mx.test.example',
  protocol: 'ESMTP',
  id: 'abc123',
  recipients: ['alice@example.test'],
  nowMs: Date.UTC(2026, 10, 22, 6, 17, 0),
};

describe('Received trace header', () => {
  it('writes clean values as they are, with the RFC 5322 date in +0000', () => {
    expect(receivedHeader(base)).toBe(
      'Received: from client.example ([192.0.2.7])\r\n' +
        '\tby mx.test.example (moonwatch) with ESMTP id abc123\r\n\tfor <alice@example.test>;\r\n' +
        '\tSun, 22 Nov 2026 06:17:00 +0000\r\n',
    );
    expect(rfc5322Date(Date.UTC(2026, 0, 5, 23, 4, 9))).toBe('Mon, 05 Jan 2026 23:04:09 +0000');
  });

  it('strips characters that could break the header from client values, and caps them at 255', () => {
    const h = receivedHeader({ ...base, helo: 'evil\r\nX-Injected: 1 (x) <y>;\\z', recipients: ['a b@ex\tample.test'] });
    expect(h).toContain('Received: from evilX-Injected:1xyz ([192.0.2.7])\r\n');
    expect(h).toContain('for <ab@example.test>;');
    expect(h.split('\r\n')).toHaveLength(5);
    const long = receivedHeader({ ...base, helo: 'h'.repeat(300) });
    expect(long).toContain(`from ${'h'.repeat(255)} (`);
    expect(receivedHeader({ ...base, helo: ' \t' })).toContain('Received: from unknown (');
  });

  it('names IPv6 clients with the IPv6: tag and leaves out "for" with several recipients', () => {
    const h = receivedHeader({ ...base, address: '2001:db8::1', recipients: ['a@x.test', 'b@x.test'] });
    expect(h).toContain('([IPv6:2001:db8::1])');
    expect(h).not.toContain('for <');
    expect(receivedHeaderBytes(base).toString('latin1')).toBe(receivedHeader(base));
  });
});
