import type { IpAddress } from '../audit/address.ts';
import { parseAddress } from '../audit/address.ts';
import { parseMonitor } from '../audit/monitor-spec.ts';
import type { Replicate } from '../audit/series.ts';
import type { Metric, Scope } from '../audit/store.ts';
import {
  addressBlock,
  clusterScope,
  ipWithMask,
  knownMonitor,
  monitorAt,
  peerBlock,
  sieveCount,
  sieveSeries,
  windowBound,
} from '../semantics/audit-query.ts';
import { SieveRuntimeError } from './errors.ts';
import type { BoundCall, CommandSpec, Fail } from './spec.ts';
import { asNumber, asText, evalArg, hashScalar, type Run, type SieveHash, type Value } from './values.ts';

/**
 * The inbound_audit commands of spec §9 in both argument forms. Every
 * Momentum rule (defaults, masks, clamping, smoothing, series identity) comes
 * from semantics/audit-query.ts, which the Lua side uses as well.
 */
function peer(rt: Run): IpAddress {
  return rt.state.peer;
}

/** The first argument decides the form: a hash variable → hash form, anything else → positional. */
function hashForm(rt: Run, call: BoundCall): { hash: SieveHash } | { first: Value } {
  const first = evalArg(rt, call.args[0]!);
  if (first instanceof Map) {
    if (call.args.length > 1) throw new SieveRuntimeError(`${call.name}: the hash form takes the hash alone`);
    return { hash: first };
  }
  return { first };
}

function optText(rt: Run, call: BoundCall, i: number): string | undefined {
  const a = call.args[i];
  return a === undefined ? undefined : asText(evalArg(rt, a));
}

function hashText(h: SieveHash, key: string): string | undefined {
  const v = hashScalar(h, key);
  return v === undefined ? undefined : String(v);
}

function ecIp(metric: Metric, cluster: boolean): CommandSpec {
  const name = `ec_ip_${metric}${cluster ? '_cluster' : ''}`;
  return {
    role: 'value',
    usage: `${name} "<monitor-index>" ["<mask>"] | ${name} $hash`,
    min: 1,
    max: 2,
    run: (rt, call) => {
      const store = rt.env.store;
      const scope: Scope = cluster ? clusterScope(rt.env.warnOnce, `Sieve ${name}`) : 'local';
      const form = hashForm(rt, call);
      if ('first' in form) {
        // Positional: monitor by position, the weighted sliding value (spec §4.4).
        const monitor = monitorAt(store, asText(form.first));
        const cidr = peerBlock(peer(rt), optText(rt, call, 1));
        return sieveCount(store.smoothed(metric, monitor, cidr, scope));
      }
      const h = form.hash;
      const m = hashText(h, 'monitor');
      const monitor = m === undefined ? monitorAt(store, 0) : knownMonitor(store, m);
      const start = windowBound(hashScalar(h, 'period_start'), 0, 'period_start');
      const end = windowBound(hashScalar(h, 'period_end'), start, 'period_end');
      const cidr = peerBlock(peer(rt), hashScalar(h, 'mask'));
      return sieveCount(store.count(metric, monitor, cidr, start, end, scope));
    },
  };
}

function gauge(name: string, service: 'arg' | 'SMTP', listener: boolean): CommandSpec {
  const svc = service === 'arg';
  return {
    role: 'value',
    usage: svc ? `${name} "<service>" ["<address/mask>"]` : `${name} ["<address/mask>"]`,
    min: svc ? 1 : 0,
    max: svc ? 2 : 1,
    run: (rt, call) => {
      const s = svc ? asText(evalArg(rt, call.args[0]!)) : 'SMTP';
      const cidr = addressBlock(peer(rt), optText(rt, call, svc ? 1 : 0));
      const n = rt.env.store.gauges.count(s, cidr, listener ? rt.state.listener : undefined);
      // A one-element string list: scripts unpack it with ($n) = … (spec §6.2).
      return [sieveCount(n)];
    },
  };
}

function monitorShape(text: string): { width: number; windows: number } {
  const spec = parseMonitor(text);
  return { width: spec.width, windows: spec.windows };
}

function replicateOf(v: string | number | undefined): Replicate | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (n === 0) return undefined;
  if (n === 1) return 'cluster';
  if (n === -1) return 'manager';
  throw new SieveRuntimeError(`replicate must be 0, 1 or -1, got ${JSON.stringify(String(v))}`);
}

function required(h: SieveHash, key: string, cmd: string): string {
  const v = hashText(h, key);
  if (v === undefined || v === '') throw new SieveRuntimeError(`${cmd}: the hash needs "${key}"`);
  return v;
}

const auditSeries: CommandSpec = {
  role: 'value',
  usage: 'audit_series "<series>" "<interval,number>" ["<mask>"] ["<start>"] ["<end>"] | audit_series $hash',
  min: 1,
  max: 5,
  run: (rt, call) => {
    const form = hashForm(rt, call);
    let name: string;
    let monitor: string;
    let start: number;
    let end: number;
    let cidr;
    if ('first' in form) {
      if (call.args.length < 2) throw new SieveRuntimeError('audit_series: give the series and its "interval,number", or a hash');
      name = asText(form.first);
      monitor = asText(evalArg(rt, call.args[1]!));
      cidr = peerBlock(peer(rt), optText(rt, call, 2));
      // None → window 0; only start → that window; both → the range (spec §4.3).
      start = windowBound(optText(rt, call, 3), 0, 'the start window');
      end = windowBound(optText(rt, call, 4), start, 'the end window');
    } else {
      const h = form.hash;
      name = required(h, 'series', 'audit_series');
      monitor = required(h, 'monitor', 'audit_series');
      start = windowBound(hashScalar(h, 'period_start'), 0, 'period_start');
      end = windowBound(hashScalar(h, 'period_end'), start, 'period_end');
      cidr = ipWithMask(peer(rt), hashText(h, 'ip'), hashScalar(h, 'mask'));
    }
    const { width, windows } = monitorShape(monitor);
    const reg = rt.env.store.series;
    const resolved = sieveSeries(reg, name, width, windows, cidr.addr.family, false);
    return resolved === undefined ? '0' : sieveCount(reg.count(resolved, cidr, start, end));
  },
};

const auditSeriesAdd: CommandSpec = {
  role: 'action',
  usage: 'audit_series_add "<series>" "<interval,number>" ["<amount>"] | audit_series_add $hash',
  min: 1,
  max: 3,
  run: (rt, call) => {
    const form = hashForm(rt, call);
    let name: string;
    let monitor: string;
    let count = 1;
    let addr: IpAddress = peer(rt);
    let replicate: Replicate | undefined;
    if ('first' in form) {
      if (call.args.length < 2) throw new SieveRuntimeError('audit_series_add: give the series and its "interval,number", or a hash');
      name = asText(form.first);
      monitor = asText(evalArg(rt, call.args[1]!));
      if (call.args[2] !== undefined) count = asNumber(evalArg(rt, call.args[2]), 'the amount');
    } else {
      const h = form.hash;
      name = required(h, 'series', 'audit_series_add');
      monitor = required(h, 'monitor', 'audit_series_add');
      const c = hashScalar(h, 'count');
      if (c !== undefined) count = asNumber(c, 'count');
      const ip = hashText(h, 'ip');
      if (ip !== undefined && ip !== '') addr = parseAddress(ip.trim());
      replicate = replicateOf(hashScalar(h, 'replicate'));
      // "serialize" (spec §14 #19) means "apply locally", which is what always happens.
    }
    const { width, windows } = monitorShape(monitor);
    const reg = rt.env.store.series;
    const resolved = sieveSeries(reg, name, width, windows, addr.family, true, replicate)!;
    reg.add(resolved, addr, count);
    return undefined;
  },
};

/** Positional arguments written as literals are checked at load. */
function checkMonitorLiteral(i: number): (call: BoundCall, fail: Fail) => void {
  return (call, fail) => {
    const a = call.args[i];
    if (a?.kind === 'string' && a.literal) {
      try {
        parseMonitor(a.raw);
      } catch (err) {
        fail(a.pos, `${call.name}: ${(err as Error).message}`);
      }
    }
  };
}

export const AUDIT_COMMANDS: Readonly<Record<string, CommandSpec>> = {
  ec_ip_connections: ecIp('connections', false),
  ec_ip_receptions: ecIp('receptions', false),
  ec_ip_rejections: ecIp('rejections', false),
  ec_ip_connections_cluster: ecIp('connections', true),
  ec_ip_receptions_cluster: ecIp('receptions', true),
  ec_ip_rejections_cluster: ecIp('rejections', true),
  audit_service: gauge('audit_service', 'arg', false),
  audit_connections_on_service: gauge('audit_connections_on_service', 'SMTP', false),
  audit_connections_on_listener: gauge('audit_connections_on_listener', 'SMTP', true),
  audit_series: { ...auditSeries, check: checkMonitorLiteral(1) },
  audit_series_add: { ...auditSeriesAdd, check: checkMonitorLiteral(1) },
};
