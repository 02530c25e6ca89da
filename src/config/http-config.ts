/**
 * The `http` section: the optional observability listener (/metrics,
 * /healthz). Absent or `enabled: false`: no listener. Enabled without
 * `listen`: loopback, 127.0.0.1:9464 (the port Prometheus' registry lists for
 * exporters of this kind). Any other address must be written out.
 */
import { isIP } from 'node:net';
import type { ConfigNode } from './reader.ts';

export interface HttpConfig {
  readonly host: string;
  readonly port: number;
}

export const DEFAULT_HTTP_LISTEN: HttpConfig = Object.freeze({ host: '127.0.0.1', port: 9464 });

export function readHttp(node: ConfigNode): { http?: HttpConfig } {
  if (node.isNull) return {};
  const m = node.map(['enabled', 'listen']);
  const enabled = m.opt('enabled', true, (n) => n.bool());
  const listen = m.opt('listen', DEFAULT_HTTP_LISTEN, (n) => {
    const v = n.string();
    const mm = /^\[([^\]]+)\]:(\d+)$/.exec(v) ?? /^([^:[\]]+):(\d+)$/.exec(v);
    if (mm === null || isIP(mm[1]!) === 0) return n.fail(`"${v}" is not an address:port ("127.0.0.1:9464" or "[::1]:9464")`);
    const port = Number(mm[2]);
    if (port > 65535) return n.fail(`port ${port} is out of range 0-65535`);
    return { host: mm[1]!, port };
  });
  return enabled ? { http: listen } : {};
}
