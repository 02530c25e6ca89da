/**
 * The fixture's `policy.dns:` block: what msys.dnsLookup answers in the
 * harness (docs/fixtures.md). Keys are "name TYPE"; a value is a list of
 * records, or one of NXDOMAIN, SERVFAIL, TIMEOUT. MX records are
 * "<pref> <host>" or {pref, value}. Names not listed are NXDOMAIN.
 */
import { ManualClock, type Clock } from '../clock.ts';
import { DEFAULT_PHASE_TIMEOUT_MS, DNS_TYPES, type CompatServices, type DnsAnswer, type DnsRecord } from '../msys/compat-services.ts';
import { FixtureDnsResolver } from '../msys/dns-resolver.ts';
import type { YNode } from './yaml-reader.ts';

const FAILURES = ['NXDOMAIN', 'SERVFAIL', 'TIMEOUT'];

export function readFixtureDns(node: YNode): Record<string, DnsAnswer> {
  const m = node.map('policy.dns');
  const out: Record<string, DnsAnswer> = {};
  for (const key of m.keys()) {
    const where = `policy.dns["${key}"]`;
    const v = m.get(key)!;
    const [name, type = 'A', extra] = key.trim().split(/\s+/);
    if (!name || extra !== undefined || !(DNS_TYPES as readonly string[]).includes(type.toUpperCase())) {
      m.keyNode(key)!.fail(`${where}: a key is "<name> <type>" with type one of ${DNS_TYPES.join(', ')}`);
    }
    const isMx = type.toUpperCase() === 'MX';
    if (v.isScalar) {
      const code = v.string(where);
      if (!FAILURES.includes(code)) v.fail(`${where} must be a list of records or one of ${FAILURES.join(', ')}`);
      out[key] = { error: code };
      continue;
    }
    const records: DnsRecord[] = v.list(where).map((item): DnsRecord => {
      if (item.isMap) {
        const r = item.map(where, ['pref', 'value']);
        return { value: r.require('value', where).string(`${where}.value`), pref: r.require('pref', where).int(`${where}.pref`, 0, 65535) };
      }
      const text = String(item.scalar(where));
      if (!isMx) return { value: text };
      const mx = /^(\d+)\s+(\S+)$/.exec(text);
      if (!mx) item.fail(`${where}: an MX record is "<pref> <host>", got "${text}"`);
      return { pref: Number(mx![1]), value: mx![2]! };
    });
    out[key] = { records };
  }
  return out;
}

/** Fixture services: DNS from the fixture; msys.sleep moves the virtual clock instead of waiting. */
export function fixtureCompatServices(dns: Record<string, DnsAnswer> | undefined, clock: Clock): CompatServices {
  return {
    dns: new FixtureDnsResolver(dns ?? {}),
    sleep: (ms) => {
      if (clock instanceof ManualClock) clock.advance(ms);
      return Promise.resolve();
    },
    phaseTimeoutMs: DEFAULT_PHASE_TIMEOUT_MS,
  };
}
