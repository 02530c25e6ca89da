import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';

const BASE = 'listen: ["127.0.0.1:2525"]\nscripts:\n  dir: .\n  modules: [a]\n';
const FILE = join(import.meta.dirname, 'virtual.yaml');
const parse = (extra: string) => parseConfig(`${BASE}${extra}`, FILE);

function failure(extra: string): { code?: string; message: string } {
  try {
    parse(extra);
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected a config error');
}

describe('control and persistence settings', () => {
  it('defaults: no console, state dirs beside the config file, monitors not persisted', () => {
    const cfg = parse('');
    expect(cfg.control).toBeUndefined();
    expect(cfg.inboundAudit.serializeDir).toBe(join(import.meta.dirname, 'audit_series_persist'));
    expect(cfg.inboundAudit.logDir).toBe(join(import.meta.dirname, 'audit_series_logs'));
    expect(cfg.inboundAudit.persistMonitors).toBe(false);
  });

  it('reads socket, loopback tcp, token and the inbound_audit paths', () => {
    const cfg = parse(
      'inbound_audit:\n  serialize_dir: /var/lib/mw\n  log_dir: logs\n  persist_monitors: true\n' +
        'control:\n  socket: run/mw.sock\n  tcp: "[::1]:7025"\n  token: 0123456789abcdef0123\n',
    );
    expect(cfg.inboundAudit).toMatchObject({ serializeDir: '/var/lib/mw', logDir: join(import.meta.dirname, 'logs'), persistMonitors: true });
    expect(cfg.control).toEqual({ socket: join(import.meta.dirname, 'run/mw.sock'), tcp: { host: '::1', port: 7025 }, token: '0123456789abcdef0123' });
  });

  it.each([
    ['control:\n  tcp: "0.0.0.0:7025"\n  token: 0123456789abcdef0123\n', 6, /control\.tcp.*loopback/],
    ['control:\n  tcp: "127.0.0.1:7025"\n', 6, /control\.tcp.*needs control\.token/],
    ['control:\n  socket: a.sock\n  token: short\n', 7, /control\.token.*at least 16/],
    ['control:\n  sockett: a.sock\n', 6, /sockett/],
    ['control:\n  token: 0123456789abcdef0123\n', 6, /control.*needs socket, tcp or both/],
    ['inbound_audit:\n  persist_monitors: maybe\n', 6, /persist_monitors/],
    [`control:\n  socket: /${'x'.repeat(120)}\n`, 6, /longer than a Unix socket path/],
  ])('rejects %j with file:line', (extra, line, pattern) => {
    const err = failure(extra);
    expect(err.code).toBe('MW_ERR_CONFIG');
    expect(err.message).toContain(`${FILE}:${line}`);
    expect(err.message).toMatch(pattern);
  });
});
