import type { Clock } from '../clock.ts';
import { NodeDnsResolver } from './dns-resolver.ts';
/**
 * What the compatibility packages need from outside the VM: a DNS resolver,
 * a way to wait, the phase wall-clock limit and where injected messages go.
 * `moonwatch serve` wires real ones (dns-resolver.ts, timers); the fixture
 * harness wires the fixture's DNS answers and its virtual clock, so fixtures
 * stay deterministic.
 */

export const DNS_TYPES = ['A', 'AAAA', 'TXT', 'MX', 'PTR', 'NS'] as const;
export type DnsType = (typeof DNS_TYPES)[number];

export interface DnsQuery {
  readonly name: string;
  readonly type: DnsType;
  /** options.server: an alternative resolver address. */
  readonly server?: string;
}

/** One answer record; `pref` only for MX. */
export interface DnsRecord {
  readonly value: string;
  readonly pref?: number;
}

/** Records (possibly none: the name exists without that type) or a failure code. */
export type DnsAnswer = { readonly records: readonly DnsRecord[] } | { readonly error: 'NXDOMAIN' | 'SERVFAIL' | 'TIMEOUT' | string };

export interface DnsResolverLike {
  lookup(q: DnsQuery): Promise<DnsAnswer>;
}

export interface InjectedMessage {
  readonly mailFrom: string;
  readonly recipients: readonly string[];
  readonly raw: Buffer;
}

export interface CompatServices {
  readonly dns: DnsResolverLike;
  /** Waits ms (msys.sleep); the harness moves its virtual clock instead. */
  readonly sleep: (ms: number) => Promise<void>;
  /** Wall-clock limit of a whole phase, waits included. */
  readonly phaseTimeoutMs: number;
  /** Where msg:inject sends a message; absent: inject answers nil, "no sink". */
  readonly inject?: (m: InjectedMessage) => Promise<void>;
}

export const DEFAULT_PHASE_TIMEOUT_MS = 30_000;

export function timerSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The services of `moonwatch serve` when none are given: the system resolver and real timers. */
export function compatServicesOrDefault(services: CompatServices | undefined, clock: Clock): CompatServices {
  return services ?? { dns: new NodeDnsResolver({}, clock), sleep: timerSleep, phaseTimeoutMs: DEFAULT_PHASE_TIMEOUT_MS };
}
