/**
 * Reads and validates a config file. Every problem is a ConfigError naming the
 * file, the line and the setting; nothing is half-applied because nothing is
 * applied at all until the whole file has been read.
 */
import { readCompat } from './compat.ts';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { DEFAULT_FAILURE_MODE, type FailureMode } from '../policy/engine-options.ts';
import { configAddress, configAddressOrCidr } from './addresses.ts';
import { readCluster } from './cluster.ts';
import { ConfigError } from './errors.ts';
import { readHttp } from './http-config.ts';
import { ConfigNode, parseConfigDocument, type ConfigMap } from './reader.ts';
import { readSieve } from './sieve.ts';
import {
  DEFAULT_BUDGETS,
  DEFAULT_INBOUND_AUDIT,
  DEFAULT_LIMITS,
  DEFAULT_LOG_DIR,
  DEFAULT_SERIALIZE_DIR,
  type ControlConfig,
  type InboundAuditConfig,
  type LimitsConfig,
  type ListenAddress,
  type MoonwatchConfig,
  type ScriptsConfig,
  type SinkConfig,
  type TlsConfig,
} from './schema.ts';

const TOP_KEYS = [
  'listen',
  'hostname',
  'banner',
  'inbound_audit',
  'scripts',
  'budgets',
  'failure_mode',
  'sink',
  'xclient',
  'limits',
  'log',
  'control',
  'tls',
  'cluster',
  'http',
  'compat',
] as const;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export function loadConfigFile(path: string): MoonwatchConfig {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(file, 0, '', code === 'ENOENT' ? 'no such file' : `cannot read: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseConfig(text, file);
}

/** `file` names the source in errors and anchors relative paths (its directory is baseDir). */
export function parseConfig(text: string, file: string): MoonwatchConfig {
  const abs = resolve(file);
  const baseDir = dirname(abs);
  const root = parseConfigDocument(text, abs).map(TOP_KEYS);
  return {
    file: abs,
    baseDir,
    listen: readListen(root.required('listen')),
    hostname: root.opt('hostname', osHostname(), readHostname),
    banner: root.opt('banner', 'moonwatch', (n) => n.string()),
    inboundAudit: readInboundAudit(root.get('inbound_audit'), baseDir),
    scripts: readScripts(root.required('scripts'), baseDir),
    budgets: readBudgets(root.get('budgets')),
    failureMode: readFailureMode(root.get('failure_mode')),
    sink: readSink(root.get('sink'), baseDir),
    xclient: readXclient(root.get('xclient')),
    limits: readLimits(root.get('limits')),
    log: readLog(root.get('log')),
    ...readControl(root.get('control'), baseDir),
    ...readTls(root.get('tls'), baseDir),
    ...readCluster(root.get('cluster')),
    ...readHttp(root.get('http')),
    ...readCompat(root.get('compat')),
  };
}

function readTls(node: ConfigNode, baseDir: string): { tls?: TlsConfig } {
  if (node.isNull) return {};
  const m = node.map(['key', 'cert']);
  const keyNode = m.required('key');
  const certNode = m.required('cert');
  const keyFile = resolvePath(keyNode.string(), baseDir);
  const certFile = resolvePath(certNode.string(), baseDir);
  const read = (file: string, n: ConfigNode): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      return n.fail(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const files = { keyFile, certFile, key: read(keyFile, keyNode), cert: read(certFile, certNode) };
  const problem = tlsProblem(files);
  if (problem !== undefined) (problem.setting === 'key' ? keyNode : certNode).fail(problem.text);
  return { tls: files };
}

/**
 * Why a key and certificate cannot serve TLS (not PEM, or not a pair), or
 * undefined: checked when the config loads, so a bad pair stops the start
 * instead of failing every client's handshake.
 */
export function tlsProblem(t: { key: Buffer; cert: Buffer; keyFile: string; certFile: string }): { setting: 'key' | 'cert'; text: string } | undefined {
  try {
    createPrivateKey(t.key);
  } catch (err) {
    return { setting: 'key', text: `${t.keyFile} is not a PEM private key (${(err as Error).message})` };
  }
  try {
    new X509Certificate(t.cert);
  } catch (err) {
    return { setting: 'cert', text: `${t.certFile} is not a PEM certificate (${(err as Error).message})` };
  }
  try {
    createSecureContext({ key: t.key, cert: t.cert });
  } catch (err) {
    return { setting: 'cert', text: `${t.certFile} does not go with the key ${t.keyFile} (${(err as Error).message})` };
  }
  return undefined;
}

function readControl(node: ConfigNode, baseDir: string): { control?: ControlConfig } {
  if (node.isNull) return {};
  const m = node.map(['socket', 'tcp', 'token']);
  const socket = m.opt('socket', undefined as string | undefined, (n) => {
    const p = resolvePath(n.string(), baseDir);
    // sun_path holds 108 bytes on Linux (104 on BSDs), NUL included.
    if (Buffer.byteLength(p) > 103) n.fail(`${p} is longer than a Unix socket path may be (103 bytes)`);
    return p;
  });
  const tcp = m.opt('tcp', undefined as ControlConfig['tcp'], (n) => {
    const v = n.string();
    const mm = /^(127\.0\.0\.1|\[::1\]):(\d{1,5})$/.exec(v);
    if (mm === null || Number(mm[2]) > 65535) return n.fail(`"${v}" must be a loopback address with a port: "127.0.0.1:PORT" or "[::1]:PORT"`);
    return { host: mm[1] === '[::1]' ? '::1' : mm[1]!, port: Number(mm[2]) };
  });
  const token = m.opt('token', undefined as string | undefined, (n) => {
    const t = String(n.string());
    if (t.length < 16 || /\s/.test(t)) n.fail('must be at least 16 characters without blanks');
    return t;
  });
  if (tcp !== undefined && token === undefined) m.get('tcp').fail('a TCP console needs control.token');
  if (socket === undefined && tcp === undefined) node.fail('needs socket, tcp or both');
  return {
    control: {
      ...(socket === undefined ? {} : { socket }),
      ...(tcp === undefined ? {} : { tcp }),
      ...(token === undefined ? {} : { token }),
    },
  };
}

function readListen(node: ConfigNode): ListenAddress[] {
  const seen = new Set<string>();
  return node.stringList().map(({ value, node: item }) => {
    const m = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:[\]]+):(\d+)$/.exec(value);
    if (m === null) return item.fail(`"${value}" is not an address:port ("127.0.0.1:2525" or "[::1]:2525")`);
    const host = m[1]!;
    const port = Number(m[2]);
    if (isIP(host) === 0) item.fail(`"${host}" is not an IP address (write IPv6 in brackets: "[::1]:2525")`);
    configAddress(item, host);
    if (isIP(host) === 6 && !value.startsWith('[')) item.fail('IPv6 addresses must be written in brackets: "[::1]:2525"');
    if (!Number.isInteger(port) || port > 65535) item.fail(`port ${m[2]} is out of range 0-65535`);
    const key = `${host}|${port}`;
    if (port !== 0 && seen.has(key)) item.fail(`"${value}" is listed twice`);
    seen.add(key);
    return { host, port };
  });
}

function readHostname(node: ConfigNode): string {
  const v = node.string();
  const labels = v.replace(/\.$/, '').split('.');
  if (v.length > 253 || !labels.every((l) => /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/i.test(l))) {
    node.fail(`"${v}" is not a valid host name`);
  }
  return v;
}

function readInboundAudit(node: ConfigNode, baseDir: string): InboundAuditConfig {
  const m = node.map([
    'monitors',
    'maintenance_interval',
    'max_tracked_per_monitor',
    'max_tracked_per_series',
    'reception_unit',
    'strict_monitors',
    'serialize_dir',
    'log_dir',
    'persist_monitors',
  ]);
  const d = DEFAULT_INBOUND_AUDIT;
  return {
    monitors: m.opt('monitors', [], readMonitors),
    maintenanceInterval: m.opt('maintenance_interval', d.maintenanceInterval, (n) => n.int(1, 86_400)),
    maxTrackedPerMonitor: m.opt('max_tracked_per_monitor', d.maxTrackedPerMonitor, (n) => n.int(1)),
    maxTrackedPerSeries: m.opt('max_tracked_per_series', d.maxTrackedPerSeries, (n) => n.int(1)),
    receptionUnit: m.opt('reception_unit', d.receptionUnit, (n) => n.oneOf(['recipient', 'message'] as const)),
    strictMonitors: m.opt('strict_monitors', d.strictMonitors, (n) => n.bool()),
    serializeDir: resolvePath(m.opt('serialize_dir', DEFAULT_SERIALIZE_DIR, (n) => n.string()), baseDir),
    logDir: resolvePath(m.opt('log_dir', DEFAULT_LOG_DIR, (n) => n.string()), baseDir),
    persistMonitors: m.opt('persist_monitors', false, (n) => n.bool()),
  };
}

/** "<window-seconds>,<window-count>"; duplicates collapse, first position wins (spec inbound-audit §2.2). */
function readMonitors(node: ConfigNode): string[] {
  const out: string[] = [];
  for (const { value, node: item } of node.stringList({ allowEmpty: true })) {
    const m = /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(value);
    if (m === null || Number(m[1]) <= 0 || Number(m[2]) <= 0) {
      return item.fail(`"${value}" is not a monitor "<window-seconds>,<window-count>" with two positive whole numbers`);
    }
    const canonical = `${Number(m[1])},${Number(m[2])}`;
    if (!out.includes(canonical)) out.push(canonical);
  }
  return out;
}

function readScripts(node: ConfigNode, baseDir: string): ScriptsConfig {
  const m = node.map(['dir', 'modules', 'hot_reload', 'allow_io', 'compat_connection_alias', 'reload_debounce_ms', 'sieve']);
  const dirNode = m.required('dir');
  const dir = resolvePath(dirNode.string(), baseDir);
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) dirNode.fail(`${dir} is not a directory`);
  const modules: string[] = [];
  // A Sieve-only policy may list no Lua modules.
  for (const { value, node: item } of m.required('modules').stringList({ allowEmpty: m.has('sieve') })) {
    if (/\.lua$/i.test(value)) item.fail(`"${value}": give the module path without the .lua suffix`);
    if (!/^[A-Za-z0-9_][A-Za-z0-9_./-]*$/.test(value) || value.split(/[./]/).includes('..')) {
      item.fail(`"${value}" is not a module path under scripts.dir (letters, digits, _ - . /)`);
    }
    if (modules.includes(value)) item.fail(`"${value}" is listed twice`);
    modules.push(value);
  }
  return {
    dir,
    modules,
    hotReload: m.opt('hot_reload', true, (n) => n.bool()),
    allowIo: m.opt('allow_io', false, (n) => n.bool()),
    compatConnectionAlias: m.opt('compat_connection_alias', false, (n) => n.bool()),
    reloadDebounceMs: m.opt('reload_debounce_ms', 100, (n) => n.int(0, 60_000)),
    ...(m.has('sieve') ? { sieve: readSieve(m.get('sieve')) } : {}),
  };
}

function readBudgets(node: ConfigNode): MoonwatchConfig['budgets'] {
  const m = node.map(['instructions', 'wall_ms']);
  return {
    instructions: m.opt('instructions', DEFAULT_BUDGETS.instructions, (n) => n.int(1000)),
    wallMs: m.opt('wall_ms', DEFAULT_BUDGETS.wallMs, (n) => n.int(1, 600_000)),
  };
}

const FAILURE_DEFAULTS: Record<FailureMode['action'], FailureMode> = {
  tempfail: DEFAULT_FAILURE_MODE,
  reject: { action: 'reject', code: 554, enhanced: '5.3.0', text: 'Policy failure, message rejected' },
  disconnect: { action: 'disconnect', code: 421, enhanced: '4.3.0', text: 'Policy failure, closing connection' },
};

function readFailureMode(node: ConfigNode): FailureMode {
  if (node.isNull) return DEFAULT_FAILURE_MODE;
  // The shorthand `failure_mode: reject` picks that action's default reply.
  if (!node.isMap) return FAILURE_DEFAULTS[node.oneOf(['tempfail', 'reject', 'disconnect'] as const)];
  const m = node.map(['action', 'code', 'enhanced', 'text']);
  const action = m.opt('action', 'tempfail' as FailureMode['action'], (n) => n.oneOf(['tempfail', 'reject', 'disconnect'] as const));
  const base = FAILURE_DEFAULTS[action];
  const code = m.opt('code', base.code, (n) => {
    const c = n.int(400, 599);
    if (action === 'tempfail' && c >= 500) n.fail(`${c} is a permanent code; a tempfail needs 4xx`);
    if (action === 'reject' && c < 500) n.fail(`${c} is a temporary code; a reject needs 5xx`);
    return c;
  });
  const enhanced = m.opt('enhanced', `${String(code)[0]}${base.enhanced.slice(1)}`, (n) => {
    const e = String(n.string());
    if (!/^[245]\.\d{1,3}\.\d{1,3}$/.test(e)) n.fail(`"${e}" is not an enhanced status code like 4.3.0`);
    if (e[0] !== String(code)[0]) n.fail(`"${e}" does not match the class of reply code ${code}`);
    return e;
  });
  const text = m.opt('text', base.text, (n) => n.string());
  return Object.freeze({ action, code, enhanced, text });
}

function readSink(node: ConfigNode, baseDir: string): SinkConfig {
  if (node.isNull) return { type: 'discard' };
  const type = node.map(['type', 'path', 'host', 'port', 'timeout_ms']).required('type').oneOf(['maildir', 'relay', 'discard'] as const);
  if (type === 'maildir') {
    const m = node.map(['type', 'path']);
    return { type, path: resolvePath(m.required('path').string(), baseDir) };
  }
  if (type === 'relay') {
    const m = node.map(['type', 'host', 'port', 'timeout_ms']);
    const hostNode = m.required('host');
    const host = hostNode.string();
    if (isIP(host) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)) hostNode.fail(`"${host}" is not a host name or IP address`);
    // All digits and dots, or a colon: an address (no host name looks like that), so the strict parser.
    if (/^[\d.]+$/.test(host) || host.includes(':')) configAddress(hostNode, host);
    return {
      type,
      host,
      port: m.opt('port', 25, (n) => n.int(1, 65535)),
      timeoutMs: m.opt('timeout_ms', 30_000, (n) => n.int(100, 600_000)),
    };
  }
  node.map(['type']);
  return { type };
}

function readXclient(node: ConfigNode): MoonwatchConfig['xclient'] {
  const m = node.map(['trusted']);
  const trusted = m.opt('trusted', [] as string[], (n) =>
    n.stringList({ allowEmpty: true }).map(({ value, node: item }) => {
      // The strict parser (addresses.ts), stored canonical so the matcher reads what was checked.
      return configAddressOrCidr(item, value);
    }),
  );
  return { trusted };
}

function readLimits(node: ConfigNode): LimitsConfig {
  const m: ConfigMap = node.map([
    'max_line_length',
    'max_message_bytes',
    'max_recipients',
    'idle_timeout_ms',
    'command_timeout_ms',
    'data_timeout_ms',
    'max_errors',
    'max_connections',
    'max_connections_per_ip',
    'shutdown_grace_ms',
    'greeting_delay_ms',
    'min_data_rate',
    'max_non_progressing_commands',
  ]);
  const d = DEFAULT_LIMITS;
  const limits: LimitsConfig = {
    // RFC 5321 §4.5.3.1.4: 512 octets is the shortest line a server may refuse.
    maxLineLength: m.opt('max_line_length', d.maxLineLength, (n) => n.int(512, 1_048_576)),
    maxMessageBytes: m.opt('max_message_bytes', d.maxMessageBytes, (n) => n.int(1024)),
    maxRecipients: m.opt('max_recipients', d.maxRecipients, (n) => n.int(1, 100_000)),
    idleTimeoutMs: m.opt('idle_timeout_ms', d.idleTimeoutMs, (n) => n.int(100, 3_600_000)),
    commandTimeoutMs: m.opt('command_timeout_ms', d.commandTimeoutMs, (n) => n.int(100, 3_600_000)),
    dataTimeoutMs: m.opt('data_timeout_ms', d.dataTimeoutMs, (n) => n.int(100, 3_600_000)),
    maxErrors: m.opt('max_errors', d.maxErrors, (n) => n.int(1, 10_000)),
    maxConnections: m.opt('max_connections', d.maxConnections, (n) => n.int(1, 1_000_000)),
    maxConnectionsPerIp: m.opt('max_connections_per_ip', d.maxConnectionsPerIp, (n) => n.int(1, 1_000_000)),
    shutdownGraceMs: m.opt('shutdown_grace_ms', d.shutdownGraceMs, (n) => n.int(0, 600_000)),
    greetingDelayMs: m.opt('greeting_delay_ms', d.greetingDelayMs, (n) => n.int(0, 60_000)),
    minDataRate: m.opt('min_data_rate', d.minDataRate, (n) => n.int(0, 1_000_000_000)),
    maxNonProgressingCommands: m.opt('max_non_progressing_commands', d.maxNonProgressingCommands, (n) => n.int(1, 100_000)),
  };
  if (limits.maxConnectionsPerIp > limits.maxConnections) {
    m.get('max_connections_per_ip').fail(`(${limits.maxConnectionsPerIp}) must not exceed max_connections (${limits.maxConnections})`);
  }
  return limits;
}

function readLog(node: ConfigNode): MoonwatchConfig['log'] {
  const m = node.map(['level']);
  return { level: m.opt('level', 'info', (n) => n.oneOf(LOG_LEVELS)) };
}

function resolvePath(p: string, baseDir: string): string {
  return isAbsolute(p) ? p : resolve(baseDir, p);
}

