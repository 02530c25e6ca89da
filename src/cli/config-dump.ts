/**
 * `moonwatch config [--config FILE]`: the effective config, every default
 * filled in, in the file's own spelling (snake_case YAML), with secrets
 * masked — like `postconf -n` / `rspamadm configdump`. Paths are shown
 * resolved (absolute), as serve uses them.
 */
import { stringify } from 'yaml';
import { ConfigError } from '../config/errors.ts';
import { loadConfigFile } from '../config/load.ts';
import type { MoonwatchConfig } from '../config/schema.ts';
import { configArg } from './check.ts';
import type { ServeIo } from './serve.ts';

export const CONFIG_USAGE = `usage: moonwatch config [--config FILE]

Prints the effective config of FILE: every setting with its default filled
in, paths resolved, secrets (tokens, passwords) shown as "********". Without
--config: $MOONWATCH_CONFIG, ./moonwatch.yaml, /etc/moonwatch/moonwatch.yaml.

options:
  -c, --config FILE   the config file
  -h, --help          show this help
`;

export const MASK = '********';
const SECRET = /(token|password|passwd|secret|credentials?)$/i;

export async function runConfigDump(argv: readonly string[], io: Pick<ServeIo, 'stdout' | 'stderr'>): Promise<number> {
  const arg = configArg(argv, CONFIG_USAGE, 'config', io);
  if ('code' in arg) return arg.code;
  let config: MoonwatchConfig;
  try {
    config = loadConfigFile(arg.file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.stderr.write(`moonwatch config: bad config: ${err.message}\n`);
    return 1;
  }
  io.stdout.write(`# effective config of ${config.file}\n${stringify(effectiveConfig(config), { lineWidth: 0 })}`);
  return 0;
}

/** The config as a plain object in the file's spelling, secrets masked, file contents (TLS PEM) left out. */
export function effectiveConfig(config: MoonwatchConfig): Record<string, unknown> {
  const { file: _file, baseDir: _base, tls, ...rest } = config;
  const out = toFileSpelling(rest) as Record<string, unknown>;
  // Listen addresses in the file's own "host:port" form.
  out.listen = config.listen.map(hostPort);
  const tcp = config.control?.tcp;
  if (tcp !== undefined) (out.control as Record<string, unknown>).tcp = hostPort(tcp);
  if (tls !== undefined) out.tls = { key: tls.keyFile, cert: tls.certFile };
  return out;
}

function hostPort(a: { host: string; port: number }): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

function toFileSpelling(value: unknown, key = ''): unknown {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return undefined;
  if (SECRET.test(key) && value !== undefined && value !== null) return MASK;
  if (Array.isArray(value)) return value.map((v) => toFileSpelling(v));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const shown = toFileSpelling(v, k);
      if (shown !== undefined) out[snake(k)] = shown;
    }
    return out;
  }
  return value;
}

function snake(k: string): string {
  return k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
