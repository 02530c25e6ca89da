/**
 * Every address or CIDR block in the config goes through the strict parser the
 * console and Lua use (issue 16): the lenient readings that trusted the wrong
 * network for XCLIENT are refused at the entry's file:line.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.ts';
import { parseConfig } from '../../src/config/load.ts';
import { createTrustMatcher } from '../../src/smtp/trust.ts';

const DIR = mkdtempSync(join(tmpdir(), 'mw-config-addr-'));
mkdirSync(join(DIR, 'policies'));
afterAll(() => rmSync(DIR, { recursive: true, force: true }));
const FILE = join(DIR, 'moonwatch.yaml');
const MINIMAL = ['listen: ["127.0.0.1:2525"]', 'scripts:', '  dir: policies', '  modules: [gate]'];

function failure(lines: string[]): ConfigError {
  try {
    parseConfig(lines.join('\n'), FILE);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

const trusted = (entries: string[]) => parseConfig([...MINIMAL, 'xclient:', '  trusted:', ...entries.map((e) => `    - "${e}"`)].join('\n'), FILE).xclient.trusted;

describe('xclient.trusted uses the strict address parser', () => {
  it.each([
    ['010.0.0.1', /leading zero|octal|invalid/i],
    ['127.1', /invalid/i],
    ['3232235777', /invalid/i],
    ['10.0.0.0/08', /leading zeros are not allowed in a mask/],
    ['10.0.0.0/33', /mask|invalid|range/i],
    ['/24', /no network address/],
    ['mail.example.com', /host names are not resolved/],
  ])('refuses %s at its file:line', (entry, why) => {
    const err = failure([...MINIMAL, 'xclient:', '  trusted:', '    - "192.0.2.1"', `    - "${entry}"`]);
    expect(err).toMatchObject({ code: 'MW_ERR_CONFIG', file: FILE, line: 8, setting: 'xclient.trusted[1]' });
    expect(err.problem).toMatch(why);
    expect(err.message.startsWith(`${FILE}:8: xclient.trusted[1]: `)).toBe(true);
  });

  it('refuses a block with host bits set, with the network it probably meant', () => {
    const err = failure([...MINIMAL, 'xclient: { trusted: ["10.1.2.3/8"] }']);
    expect(err).toMatchObject({ line: 5, setting: 'xclient.trusted[0]' });
    expect(err.problem).toBe('CIDR "10.1.2.3/8" has host bits set: did you mean 10.0.0.0/8?');
  });

  it('accepts addresses and blocks, bracketed IPv6 included, in canonical form', () => {
    expect(trusted(['192.0.2.1', '10.0.0.0/8', '[2001:db8::]/32', '2001:DB8:0:0::1', '[::1]', '::ffff:192.0.2.0/120', 'localhost'])).toEqual([
      '192.0.2.1',
      '10.0.0.0/8',
      '2001:db8::/32',
      '2001:db8::1',
      '::1',
      '192.0.2.0/24',
      '127.0.0.1',
    ]);
  });

  it('trusts exactly what was written: no octal host, no wider block', () => {
    const match = createTrustMatcher(trusted(['10.0.0.1', '192.0.2.0/24', '[2001:db8::]/32']));
    expect(match('10.0.0.1')).toBe(true);
    expect(match('8.0.0.1')).toBe(false);
    expect(match('192.0.2.77')).toBe(true);
    expect(match('192.0.3.1')).toBe(false);
    expect(match('::ffff:192.0.2.9')).toBe(true);
    expect(match('2001:db8:ffff::1')).toBe(true);
    expect(match('2001:db9::1')).toBe(false);
  });
});

describe('listen addresses use the strict address parser', () => {
  it.each(['010.0.0.1', '127.1', '3232235777'])('refuses %s:2525 at its file:line', (host) => {
    const err = failure([`listen: ["127.0.0.1:2525", "${host}:2525"]`, 'scripts:', '  dir: policies', '  modules: [gate]']);
    expect(err).toMatchObject({ code: 'MW_ERR_CONFIG', line: 1, setting: 'listen[1]' });
    expect(err.problem).toMatch(/is not an IP address/);
  });

  it('still accepts IPv4 and bracketed IPv6', () => {
    const cfg = parseConfig(['listen: ["0.0.0.0:25", "[::1]:2525", "[::]:0"]', 'scripts:', '  dir: policies', '  modules: [gate]'].join('\n'), FILE);
    expect(cfg.listen).toEqual([{ host: '0.0.0.0', port: 25 }, { host: '::1', port: 2525 }, { host: '::', port: 0 }]);
  });
});

describe('a relay sink host that is an address uses the strict parser', () => {
  it('refuses 010.0.0.1 instead of relaying to 8.0.0.1', () => {
    const err = failure([...MINIMAL, 'sink:', '  type: relay', '  host: "010.0.0.1"']);
    expect(err).toMatchObject({ line: 7, setting: 'sink.host' });
    expect(err.problem).toMatch(/invalid IP address/);
  });

  it('accepts a host name and a plain address', () => {
    expect(parseConfig([...MINIMAL, 'sink: { type: relay, host: mx.example.net }'].join('\n'), FILE).sink).toMatchObject({ host: 'mx.example.net' });
    expect(parseConfig([...MINIMAL, 'sink: { type: relay, host: 192.0.2.25 }'].join('\n'), FILE).sink).toMatchObject({ host: '192.0.2.25' });
  });
});
