import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAddress, parseCidr } from '../../src/audit/address.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { ManualClock } from '../../src/clock.ts';
import { ConfigError } from '../../src/config/errors.ts';
import { loadConfigFile, parseConfig } from '../../src/config/load.ts';
import { engineOptionsFrom, storeOptionsFrom } from '../../src/config/schema.ts';
import { captureLogger } from '../../src/log.ts';

let dir: string;
let file: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mw-config-'));
  mkdirSync(join(dir, 'policies'));
  file = join(dir, 'moonwatch.yaml');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MINIMAL = ['listen: ["127.0.0.1:2525"]', 'scripts:', '  dir: policies', '  modules: [gate]'];

function parse(lines: string[]) {
  return parseConfig(lines.join('\n'), file);
}

/** The ConfigError parse throws, or fails the test. */
function failure(lines: string[]): ConfigError {
  try {
    parse(lines);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('the example config', () => {
  it('is what `npm start` runs: 127.0.0.1:2525, the example policies in order, hot reload on', () => {
    const cfg = loadConfigFile('examples/moonwatch.yaml');
    expect(cfg.file).toBe(resolve('examples/moonwatch.yaml'));
    expect(cfg.listen).toEqual([{ host: '127.0.0.1', port: 2525 }]);
    expect(cfg.scripts.dir).toBe(resolve('examples/policies'));
    expect(cfg.scripts.modules).toEqual(['whitelist', 'ip_rate', 'burst24', 'session_cap', 'smoothed_rate', 'dha']);
    expect(cfg.scripts.hotReload).toBe(true);
    expect(cfg.inboundAudit.monitors).toEqual(['60,10', '300,6']);
    expect(cfg.sink).toEqual({ type: 'discard' });
    expect(cfg.xclient.trusted).toEqual(['127.0.0.1/32', '::1/128']);
  });
});

describe('parsing', () => {
  it('fills defaults for everything optional', () => {
    const cfg = parse(MINIMAL);
    expect(cfg.baseDir).toBe(dir);
    expect(cfg.scripts).toMatchObject({ dir: join(dir, 'policies'), modules: ['gate'], hotReload: true, allowIo: false });
    expect(cfg.failureMode).toEqual({ action: 'tempfail', code: 451, enhanced: '4.3.0', text: 'Temporary policy failure, please try again later' });
    expect(cfg.limits).toMatchObject({ maxLineLength: 1000, maxErrors: 20, maxConnectionsPerIp: 50 });
    expect(cfg.inboundAudit).toMatchObject({ monitors: [], maintenanceInterval: 300, receptionUnit: 'recipient', strictMonitors: false });
    expect(cfg.sink).toEqual({ type: 'discard' });
    expect(cfg.log.level).toBe('info');
  });

  it('reads IPv4 and bracketed IPv6 listen addresses', () => {
    const cfg = parse(['listen: ["127.0.0.1:2525", "[::1]:2525", "0.0.0.0:25", "[::]:0"]', ...MINIMAL.slice(1)]);
    expect(cfg.listen).toEqual([
      { host: '127.0.0.1', port: 2525 },
      { host: '::1', port: 2525 },
      { host: '0.0.0.0', port: 25 },
      { host: '::', port: 0 },
    ]);
  });

  it('reads the same settings from JSON', () => {
    const json = JSON.stringify({
      listen: ['[::1]:25'],
      scripts: { dir: 'policies', modules: ['a', 'b.c'], hot_reload: false },
      sink: { type: 'maildir', path: 'mail' },
      failure_mode: { action: 'reject' },
      limits: { max_errors: 5 },
    });
    const cfg = parseConfig(json, join(dir, 'moonwatch.json'));
    expect(cfg.listen).toEqual([{ host: '::1', port: 25 }]);
    expect(cfg.scripts.modules).toEqual(['a', 'b.c']);
    expect(cfg.sink).toEqual({ type: 'maildir', path: join(dir, 'mail') });
    expect(cfg.failureMode).toMatchObject({ action: 'reject', code: 554, enhanced: '5.3.0' });
    expect(cfg.limits.maxErrors).toBe(5);
  });

  it('resolves relative paths against the config file, keeps absolute ones', () => {
    const cfg = parse([...MINIMAL, 'sink:', '  type: maildir', '  path: ../md']);
    expect(cfg.sink).toEqual({ type: 'maildir', path: resolve(dir, '../md') });
    const abs = parse([...MINIMAL, 'sink: { type: maildir, path: /var/mail/mw }']);
    expect(abs.sink).toEqual({ type: 'maildir', path: '/var/mail/mw' });
  });

  it('collapses duplicate monitors, first position wins, and canonicalises spacing', () => {
    const cfg = parse([...MINIMAL, 'inbound_audit:', '  monitors: ["300, 6", "60,10", "300,6"]']);
    expect(cfg.inboundAudit.monitors).toEqual(['300,6', '60,10']);
  });

  it('reads a relay sink and the shorthand failure mode', () => {
    const cfg = parse([...MINIMAL, 'sink: { type: relay, host: smtp.example, port: 2526 }', 'failure_mode: disconnect']);
    expect(cfg.sink).toEqual({ type: 'relay', host: 'smtp.example', port: 2526, timeoutMs: 30000 });
    expect(cfg.failureMode).toMatchObject({ action: 'disconnect', code: 421 });
  });
});

describe('tls (STARTTLS)', () => {
  const TLS = resolve('test/smtp/tls');

  it('reads the key and certificate when the config loads', () => {
    const cfg = parse([...MINIMAL, 'tls:', `  key: ${join(TLS, 'a.key')}`, `  cert: ${join(TLS, 'a.crt')}`]);
    expect(cfg.tls).toMatchObject({ keyFile: join(TLS, 'a.key'), certFile: join(TLS, 'a.crt') });
    expect(cfg.tls!.cert.toString()).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(parse(MINIMAL).tls).toBeUndefined();
  });

  it('refuses to start on a missing file, a file that is not PEM, or a key and certificate that are not a pair', () => {
    const missing = failure([...MINIMAL, 'tls:', `  key: ${join(TLS, 'a.key')}`, '  cert: missing.crt']);
    expect(missing).toMatchObject({ line: 7, setting: 'tls.cert' });
    expect(missing.problem).toBe(`cannot read ${join(dir, 'missing.crt')}: ENOENT`);
    const notKey = failure([...MINIMAL, 'tls:', `  key: ${join(TLS, 'a.crt')}`, `  cert: ${join(TLS, 'a.crt')}`]);
    expect(notKey).toMatchObject({ line: 6, setting: 'tls.key' });
    expect(notKey.problem).toMatch(/is not a PEM private key/);
    const mismatch = failure([...MINIMAL, 'tls:', `  key: ${join(TLS, 'a.key')}`, `  cert: ${join(TLS, 'b.crt')}`]);
    expect(mismatch).toMatchObject({ line: 7, setting: 'tls.cert' });
    expect(mismatch.problem).toMatch(/does not go with the key .*a\.key/);
    expect(failure([...MINIMAL, `tls: { key: ${join(TLS, 'a.key')} }`])).toMatchObject({ setting: 'tls.cert', problem: 'is required' });
  });
});

describe('errors name the file, the line and the setting', () => {
  it('rejects an unknown key (a typo) at its own line', () => {
    const err = failure([...MINIMAL, 'limits:', '  max_errors: 5', '  max_erors: 7']);
    expect(err.code).toBe('MW_ERR_CONFIG');
    expect(err.line).toBe(7);
    expect(err.setting).toBe('limits.max_erors');
    expect(err.message).toBe(`${file}:7: limits.max_erors: ${err.problem}`);
    expect(err.problem).toMatch(/^unknown setting \(expected one of: .*max_errors/);
  });

  it('rejects an unknown top-level key', () => {
    const err = failure(['lisen: ["127.0.0.1:25"]', ...MINIMAL]);
    expect(err).toMatchObject({ line: 1, setting: 'lisen' });
  });

  it('rejects a wrong type at the value', () => {
    const err = failure([...MINIMAL, 'limits:', '  max_errors: lots']);
    expect(err).toMatchObject({ line: 6, setting: 'limits.max_errors' });
    expect(err.problem).toContain('whole number');
  });

  it('rejects out-of-range numbers', () => {
    expect(failure([...MINIMAL, 'limits: { max_line_length: 80 }'])).toMatchObject({ setting: 'limits.max_line_length', line: 5 });
    expect(failure([...MINIMAL, 'limits: { max_connections: 10, max_connections_per_ip: 20 }'])).toMatchObject({
      setting: 'limits.max_connections_per_ip',
    });
  });

  it('names the list entry of a bad listen address', () => {
    const err = failure(['listen:', '  - "127.0.0.1:25"', '  - "::1:25"', ...MINIMAL.slice(1)]);
    expect(err).toMatchObject({ line: 3, setting: 'listen[1]' });
    expect(failure(['listen: ["mail.example:25"]', ...MINIMAL.slice(1)]).problem).toContain('not an IP address');
    expect(failure(['listen: ["127.0.0.1:70000"]', ...MINIMAL.slice(1)]).problem).toContain('out of range');
    expect(failure(['listen: []', ...MINIMAL.slice(1)]).setting).toBe('listen');
  });

  it('requires listen and scripts', () => {
    expect(failure(MINIMAL.slice(1))).toMatchObject({ setting: 'listen', line: 1 });
    expect(failure(['listen: ["127.0.0.1:25"]'])).toMatchObject({ setting: 'scripts' });
    expect(failure(['listen: ["127.0.0.1:25"]', 'scripts:', '  dir: policies'])).toMatchObject({ setting: 'scripts.modules' });
  });

  it('checks the scripts directory and module names', () => {
    expect(failure(['listen: ["127.0.0.1:25"]', 'scripts:', '  dir: nowhere', '  modules: [a]'])).toMatchObject({ setting: 'scripts.dir', line: 3 });
    expect(failure(['listen: ["127.0.0.1:25"]', 'scripts:', '  dir: policies', '  modules: [gate.lua]']).problem).toContain('without the .lua suffix');
    expect(failure(['listen: ["127.0.0.1:25"]', 'scripts:', '  dir: policies', '  modules: [../etc/passwd]']).setting).toBe('scripts.modules[0]');
    expect(failure(['listen: ["127.0.0.1:25"]', 'scripts:', '  dir: policies', '  modules: [a, a]']).problem).toContain('listed twice');
  });

  it('checks monitors, XCLIENT networks, log level and sink type', () => {
    expect(failure([...MINIMAL, 'inbound_audit: { monitors: ["300,0"] }'])).toMatchObject({ setting: 'inbound_audit.monitors[0]' });
    expect(failure([...MINIMAL, 'xclient: { trusted: ["10.0.0.0/33"] }'])).toMatchObject({ setting: 'xclient.trusted[0]' });
    expect(failure([...MINIMAL, 'log: { level: loud }'])).toMatchObject({ setting: 'log.level' });
    expect(failure([...MINIMAL, 'sink: { type: mbox }'])).toMatchObject({ setting: 'sink.type' });
    expect(failure([...MINIMAL, 'sink: { type: relay, host: x.example, path: /tmp }'])).toMatchObject({ setting: 'sink.path' });
    expect(failure([...MINIMAL, 'sink: { type: maildir }'])).toMatchObject({ setting: 'sink.path' });
  });

  it('keeps a failure reply consistent with its action', () => {
    expect(failure([...MINIMAL, 'failure_mode: { action: tempfail, code: 550 }'])).toMatchObject({ setting: 'failure_mode.code' });
    expect(failure([...MINIMAL, 'failure_mode: { action: reject, code: 554, enhanced: 4.3.0 }'])).toMatchObject({ setting: 'failure_mode.enhanced' });
  });

  it('refuses control characters in reply text', () => {
    expect(failure([...MINIMAL, 'banner: "hi\\r\\n250 fake"'])).toMatchObject({ setting: 'banner' });
  });

  it('reports YAML and JSON syntax errors with their line', () => {
    const yamlErr = failure(['listen: ["127.0.0.1:25"]', 'scripts:', '  dir: policies', '  modules: [a', 'limits: {}']);
    expect(yamlErr.code).toBe('MW_ERR_CONFIG');
    expect(yamlErr.problem).toMatch(/^not valid YAML/);
    expect(yamlErr.line).toBeGreaterThan(1);
    const jsonErr = (() => {
      try {
        parseConfig('{\n  "listen": ["127.0.0.1:25"],\n  "scripts": {,}\n}', join(dir, 'c.json'));
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('expected failure');
    })();
    expect(jsonErr).toMatchObject({ code: 'MW_ERR_CONFIG', line: 3 });
    expect(jsonErr.problem).toMatch(/^not valid JSON/);
  });

  it('rejects duplicate keys, an empty file and a file that is not a map', () => {
    expect(failure([...MINIMAL, 'listen: ["127.0.0.1:26"]']).problem).toMatch(/unique|not valid YAML/);
    expect(failure([''])).toMatchObject({ line: 0 });
    expect(failure(['- a', '- b']).problem).toContain('map');
  });

  it('reports a missing file as a config error', () => {
    expect(() => loadConfigFile(join(dir, 'missing.yaml'))).toThrow(ConfigError);
    try {
      loadConfigFile(join(dir, 'missing.yaml'));
    } catch (err) {
      expect((err as ConfigError).problem).toBe('no such file');
    }
  });
});

describe('adapters', () => {
  it('builds working store and engine options from the config', () => {
    writeFileSync(join(dir, 'policies', 'gate.lua'), '');
    const cfg = parse([...MINIMAL, 'inbound_audit: { monitors: ["60,10"], reception_unit: message }', 'budgets: { instructions: 5000, wall_ms: 7 }']);
    const clock = new ManualClock(1_000_000);
    const { logger } = captureLogger();
    const store = new AuditStore(storeOptionsFrom(cfg, { clock, logger }));
    expect(store.monitors()).toEqual(['60,10']);
    store.record('connections', parseAddress('192.0.2.1'));
    expect(store.count('connections', '60,10', parseCidr('192.0.2.0/24'))).toBe(1);
    const eo = engineOptionsFrom(cfg, { clock, logger, store });
    expect(eo.scripts).toMatchObject({ dir: join(dir, 'policies'), modules: ['gate'] });
    expect(eo.budget).toEqual({ instructions: 5000, wallMs: 7 });
    expect(eo.receptionUnit).toBe('message');
    expect(eo.hostname).toBe(cfg.hostname);
  });
});
