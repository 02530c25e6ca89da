import { formatAddress, hostCidr, hostLength, parseAddress, parseCidr, type Cidr, type IpAddress } from '../audit/address.ts';
import type { SeriesInfo } from '../audit/series.ts';
import { METRICS, type AuditStore, type Metric, type Scope } from '../audit/store.ts';
import { readSeriesFile } from '../persist/series-file.ts';
import { ConsoleCommandError } from './errors.ts';
import { resolveLoadPath } from './load-path.ts';

/** Rows of `show all` per page unless the command names a limit. */
export const SHOW_ALL_PAGE = 1000;
export const SHOW_ALL_MAX_PAGE = 100_000;

const TYPE_LABEL: Record<Metric, string> = { connections: 'Connections', receptions: 'Receptions', rejections: 'Rejections' };

export const AUDIT_HELP = [
  'inbound_audit show ip <ip[/mask]>                      built-in metric windows of an address or block',
  'inbound_audit show all [<offset> [<limit>]]            all tracked addresses as CSV, paged',
  'inbound_audit count_cidr <ip[/mask]> <series> <interval,windows> <period_start> <period_end>',
  'inbound_audit add <series> <interval,windows> <ip> <increment>',
  'inbound_audit subtract <series> <interval,windows> <ip> <decrement>',
  'inbound_audit delete_ip <ip> <series> <interval,windows>',
  'inbound_audit load <series> [<filename>]               replace a series with a file in serialize_dir',
  'inbound_audit help                                     this summary',
];

export interface AuditCommandDeps {
  store: AuditStore;
  serializeDir: string;
}

/** Runs an `inbound_audit` command (prefix already removed); throws ConsoleCommandError on bad input. */
export function runAuditCommand(args: readonly string[], deps: AuditCommandDeps): string[] {
  const [cmd, ...rest] = args;
  switch (cmd) {
    case undefined:
    case 'help':
      expectArgs(rest, 0, 0, 'help');
      return AUDIT_HELP;
    case 'show':
      return show(rest, deps.store);
    case 'count_cidr':
      return countCidr(rest, deps.store);
    case 'add':
      return adjust(rest, deps.store, 1, 'add');
    case 'subtract':
      return adjust(rest, deps.store, -1, 'subtract');
    case 'delete_ip':
      return deleteIp(rest, deps.store);
    case 'load':
      return load(rest, deps);
    default:
      throw new ConsoleCommandError(`unknown inbound_audit command "${cmd}" (try: inbound_audit help)`);
  }
}

function show(args: readonly string[], store: AuditStore): string[] {
  const [what, ...rest] = args;
  if (what === 'ip') {
    expectArgs(rest, 1, 1, 'show ip <ip[/mask]>');
    return showIp(store, cidrArg(rest[0]!));
  }
  if (what === 'all') {
    expectArgs(rest, 0, 2, 'show all [<offset> [<limit>]]');
    const offset = rest[0] === undefined ? 0 : intArg(rest[0], 'offset', 0);
    const limit = rest[1] === undefined ? SHOW_ALL_PAGE : intArg(rest[1], 'limit', 1, SHOW_ALL_MAX_PAGE);
    return showAll(store, offset, limit);
  }
  throw new ConsoleCommandError('usage: show ip <ip[/mask]> | show all [<offset> [<limit>]]');
}

function showAll(store: AuditStore, offset: number, limit: number): string[] {
  const out = ['type,monitor,window,cidr,count'];
  let row = 0;
  for (const metric of METRICS) {
    for (const m of store.monitors()) {
      const windows = Number(m.slice(m.indexOf(',') + 1));
      for (let k = 0; k < windows; k++) {
        const hosts = store.hostCounts(metric, m, k);
        if (row + hosts.length <= offset) {
          row += hosts.length;
          continue;
        }
        hosts.sort((a, b) => compareAddress(a[0], b[0]));
        for (const [addr, n] of hosts) {
          if (row >= offset + limit) {
            out.push(`# more rows: inbound_audit show all ${offset + limit} ${limit}`);
            return out;
          }
          if (row >= offset) out.push(`${TYPE_LABEL[metric]},"${m}",${k},${formatAddress(addr)}/${hostLength(addr.family)},${n}`);
          row++;
        }
      }
    }
  }
  return out;
}

function countCidr(args: readonly string[], store: AuditStore): string[] {
  expectArgs(args, 5, 5, 'count_cidr <ip[/mask]> <series> <interval,windows> <period_start> <period_end>');
  const [keyText, name, params, s, e] = args as [string, string, string, string, string];
  const info = seriesArg(store, name, params);
  const start = intArg(s, 'period_start', 0);
  const end = intArg(e, 'period_end', 0);
  const key: Cidr | string = info.type === 'string' ? keyText : cidrArg(keyText);
  if (typeof key !== 'string') familyMatches(info, key.addr, keyText);
  return [String(store.series.count(name, key, start, end))];
}

function adjust(args: readonly string[], store: AuditStore, sign: 1 | -1, cmd: string): string[] {
  const what = sign === 1 ? 'increment' : 'decrement';
  expectArgs(args, 4, 4, `${cmd} <series> <interval,windows> <ip> <${what}>`);
  const [name, params, keyText, amount] = args as [string, string, string, string];
  const info = seriesArg(store, name, params);
  const n = intArg(amount, what, 0);
  let key: IpAddress | string = keyText;
  let countKey: Cidr | string = keyText;
  if (info.type !== 'string') {
    const addr = addressArg(keyText);
    familyMatches(info, addr, keyText);
    key = addr;
    countKey = hostCidr(addr);
  }
  if (sign === 1) {
    store.series.add(name, key, n);
    return [`OK ${name} ${keyText} ${store.series.count(name, countKey, 0, 0)}`];
  }
  // subtract: an address the series does not hold is left alone (not created with a
  // negative count), and a count never goes below zero; the reply says which happened.
  if (store.series.count(name, countKey, 0, info.windows - 1) === 0) {
    return [`${keyText} not found in ${name}: nothing subtracted`];
  }
  const current = store.series.count(name, countKey, 0, 0);
  const taken = Math.min(n, current);
  if (taken > 0) store.series.add(name, key, -taken);
  const now = store.series.count(name, countKey, 0, 0);
  return [taken === n ? `OK ${name} ${keyText} ${now}` : `OK ${name} ${keyText} ${now} (subtracted ${taken} of ${n}: a count does not go below zero)`];
}

function deleteIp(args: readonly string[], store: AuditStore): string[] {
  expectArgs(args, 3, 3, 'delete_ip <ip> <series> <interval,windows>');
  const [keyText, name, params] = args as [string, string, string];
  const info = seriesArg(store, name, params);
  let removed: boolean;
  if (info.type === 'string') {
    removed = store.series.removeItem(name, keyText);
  } else {
    const addr = addressArg(keyText);
    familyMatches(info, addr, keyText);
    removed = store.series.removeItem(name, addr);
  }
  return [removed ? 'OK' : `${keyText} not found in ${name}`];
}

function load(args: readonly string[], deps: AuditCommandDeps): string[] {
  expectArgs(args, 1, 2, 'load <series> [<filename>]');
  const name = args[0]!;
  if (!deps.store.series.has(name)) throw new ConsoleCommandError(`unknown series "${name}"`);
  const info = deps.store.series.info(name);
  const path = args[1] !== undefined ? resolveLoadPath(deps.serializeDir, args[1]) : defaultLoadPath(deps.serializeDir, name);
  const snap = readSeriesFile(path);
  if (snap.type !== info.type || snap.interval !== info.interval || snap.windows !== info.windows) {
    throw new ConsoleCommandError(
      `file holds a ${snap.type} series of ${snap.interval},${snap.windows}; "${name}" is ${info.type} ${info.interval},${info.windows}`,
    );
  }
  const n = deps.store.series.restore(snap, name);
  return [`Loaded ${n} entries into ${name}`];
}

/** Momentum's default file name is the series name; moonwatch's own saves add ".series". */
function defaultLoadPath(dir: string, name: string): string {
  try {
    return resolveLoadPath(dir, name);
  } catch (err) {
    try {
      return resolveLoadPath(dir, `${name}.series`);
    } catch {
      throw err;
    }
  }
}

/** `<parameters>` is the series' identity "interval,windows" (spec §14 #22). */
function seriesArg(store: AuditStore, name: string, params: string): SeriesInfo {
  if (!store.series.has(name)) throw new ConsoleCommandError(`unknown series "${name}"`);
  const info = store.series.info(name);
  const m = /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(params);
  if (m === null) throw new ConsoleCommandError(`parameters "${params}" must be "<interval>,<windows>"`);
  if (Number(m[1]) !== info.interval || Number(m[2]) !== info.windows) {
    throw new ConsoleCommandError(`series "${name}" is ${info.interval},${info.windows}, not ${params}`);
  }
  return info;
}

function familyMatches(info: SeriesInfo, addr: IpAddress, text: string): void {
  const want = info.type === 'cidr' ? 4 : 6;
  if (addr.family !== want) throw new ConsoleCommandError(`${text} is not an IPv${want} address, and series "${info.name}" is ${info.type}`);
}

/** Every window of every monitor for a block, this node's counts or the cluster's (`cluster show ip`). */
export function showIp(store: AuditStore, cidr: Cidr, scope: Scope = 'local'): string[] {
  const monitors = store.monitors();
  if (monitors.length === 0) throw new ConsoleCommandError('no monitors are configured (inbound_audit.monitors)');
  const out: string[] = [];
  for (const metric of METRICS) {
    for (const m of monitors) {
      const width = m.slice(0, m.indexOf(','));
      store.windows(metric, m, cidr, scope).forEach((n, k) => out.push(`${TYPE_LABEL[metric]} ${width}/${k}: ${n}`));
    }
  }
  return out;
}

export function cidrArg(text: string): Cidr {
  try {
    return parseCidr(text);
  } catch (err) {
    throw new ConsoleCommandError((err as Error).message);
  }
}

function addressArg(text: string): IpAddress {
  if (text.includes('/')) throw new ConsoleCommandError(`"${text}": give a single address, not a block`);
  try {
    return parseAddress(text);
  } catch (err) {
    throw new ConsoleCommandError((err as Error).message);
  }
}

function intArg(text: string, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d{1,15}$/.test(text)) throw new ConsoleCommandError(`${what} must be a whole number ≥ ${min}, got "${text}"`);
  const n = Number(text);
  if (n < min || n > max) throw new ConsoleCommandError(`${what} must be between ${min} and ${max}, got ${text}`);
  return n;
}

function expectArgs(args: readonly string[], min: number, max: number, usage: string): void {
  if (args.length < min || args.length > max) throw new ConsoleCommandError(`usage: inbound_audit ${usage}`);
}

function compareAddress(a: IpAddress, b: IpAddress): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.w0 - b.w0 || a.w1 - b.w1 || a.w2 - b.w2 || a.w3 - b.w3;
}
