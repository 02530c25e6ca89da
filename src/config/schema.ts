/**
 * The validated shape of a moonwatch config file (camelCase here, snake_case in
 * the file; docs/config.md documents every setting) and the two adapters that
 * turn it into the options of the objects the serve command builds.
 */
import { compatServicesFrom, type CompatConfig } from './compat.ts';
import type { InjectedMessage } from '../msys/compat-services.ts';
import { DEFAULT_MAX_TRACKED, type AuditStore, type AuditStoreOptions } from '../audit/store.ts';
import { DEFAULT_BUDGET, type Budget } from '../lua/budget.ts';
import type { Clock } from '../clock.ts';
import type { ClusterConfig } from './cluster.ts';
import type { HttpConfig } from './http-config.ts';
import type { Logger } from '../log.ts';
import type { EngineOptions, FailureMode } from '../policy/engine-options.ts';
import type { SieveScriptsOptions } from '../sieve/config.ts';

export interface ListenAddress {
  /** IP literal without brackets: "127.0.0.1", "::1", "0.0.0.0", "::". */
  readonly host: string;
  /** 0 asks the OS for a free port (tests). */
  readonly port: number;
}

export type SinkConfig =
  | { readonly type: 'maildir'; readonly path: string }
  | { readonly type: 'relay'; readonly host: string; readonly port: number; readonly timeoutMs: number }
  | { readonly type: 'discard' };

export interface InboundAuditConfig {
  readonly monitors: string[];
  /** Seconds between store maintenance passes. */
  readonly maintenanceInterval: number;
  readonly maxTrackedPerMonitor: number;
  readonly maxTrackedPerSeries: number;
  readonly receptionUnit: 'recipient' | 'message';
  readonly strictMonitors: boolean;
  /** Absolute. Saved state of persist=true series (and of the monitors with persistMonitors). */
  readonly serializeDir: string;
  /** Absolute. Journal files of serialize=true series. */
  readonly logDir: string;
  /** Save and restore the built-in monitors' windows like persisted series. */
  readonly persistMonitors: boolean;
}

/** STARTTLS: key and certificate chain, PEM, read and checked when the config loads. */
export interface TlsConfig {
  readonly keyFile: string;
  readonly certFile: string;
  readonly key: Buffer;
  readonly cert: Buffer;
}

/** The console control socket; absent: no console. */
export interface ControlConfig {
  /** Absolute path of the Unix socket (mode 0600). */
  readonly socket?: string;
  /** Loopback TCP listener; needs `token`. */
  readonly tcp?: { readonly host: string; readonly port: number };
  readonly token?: string;
}

export interface ScriptsConfig {
  /** Absolute. */
  readonly dir: string;
  readonly modules: string[];
  readonly hotReload: boolean;
  readonly allowIo: boolean;
  readonly compatConnectionAlias: boolean;
  readonly reloadDebounceMs: number;
  /** Sieve scripts per phase (docs/sieve.md); absent: Lua only. */
  readonly sieve?: SieveScriptsOptions;
}

export interface LimitsConfig {
  /** Longest line, CRLF included, in commands and in DATA. */
  readonly maxLineLength: number;
  readonly maxMessageBytes: number;
  readonly maxRecipients: number;
  /** No byte from the client for this long: 421 and close. */
  readonly idleTimeoutMs: number;
  /** A whole command line must arrive within this long of the previous reply, however slowly it trickles. */
  readonly commandTimeoutMs: number;
  /** The whole DATA content must arrive within this long of the 354. */
  readonly dataTimeoutMs: number;
  /** 4xx/5xx replies in one session before it is closed with 421. */
  readonly maxErrors: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerIp: number;
  readonly shutdownGraceMs: number;
  /** Pause before the 220 greeting; a client that talks first is refused (0: greet at once, as Postfix's smtpd does). */
  readonly greetingDelayMs: number;
  /** DATA: every byte received extends the DATA deadline by 1/rate s, never beyond command_timeout_ms ahead (Postfix's smtpd_min_data_rate). */
  readonly minDataRate: number;
  /** NOOP, RSET, HELP, VRFY and repeated EHLO/HELO per session before 421 (Postfix's smtpd_junk_command_limit). */
  readonly maxNonProgressingCommands: number;
}

export interface MoonwatchConfig {
  /** Absolute path of the file the config came from (or the name given to parseConfig). */
  readonly file: string;
  /** Relative paths in the file resolve against this directory: the config file's own. */
  readonly baseDir: string;
  readonly listen: ListenAddress[];
  readonly hostname: string;
  /** Text after "<hostname> ESMTP" in the 220 greeting. */
  readonly banner: string;
  readonly inboundAudit: InboundAuditConfig;
  readonly scripts: ScriptsConfig;
  readonly budgets: Budget;
  readonly failureMode: FailureMode;
  readonly sink: SinkConfig;
  /** CIDRs (or single addresses) whose XCLIENT is honoured. */
  readonly xclient: { readonly trusted: string[] };
  readonly limits: LimitsConfig;
  readonly log: { readonly level: string };
  readonly control?: ControlConfig;
  /** Absent: STARTTLS is not offered. */
  readonly tls?: TlsConfig;
  /** Absent: a single node (docs/cluster.md). */
  readonly cluster?: ClusterConfig;
  /** The /metrics and /healthz listener; absent: none (docs/operations.md). */
  readonly http?: HttpConfig;
  /** DNS and phase time limit of the Momentum compatibility packages; absent: system resolver, defaults. */
  readonly compat?: CompatConfig;
}

export const DEFAULT_LIMITS: LimitsConfig = Object.freeze({
  maxLineLength: 1000,
  maxMessageBytes: 10 * 1024 * 1024,
  maxRecipients: 100,
  idleTimeoutMs: 60_000,
  commandTimeoutMs: 300_000,
  dataTimeoutMs: 600_000,
  maxErrors: 20,
  maxConnections: 1000,
  maxConnectionsPerIp: 50,
  shutdownGraceMs: 10_000,
  greetingDelayMs: 0,
  minDataRate: 500,
  maxNonProgressingCommands: 100,
});

/** serialize_dir and log_dir default to these names beside the config file (Momentum puts them in its log root). */
export const DEFAULT_SERIALIZE_DIR = 'audit_series_persist';
export const DEFAULT_LOG_DIR = 'audit_series_logs';

export const DEFAULT_INBOUND_AUDIT: Omit<InboundAuditConfig, 'monitors' | 'serializeDir' | 'logDir' | 'persistMonitors'> = Object.freeze({
  maintenanceInterval: 300,
  maxTrackedPerMonitor: DEFAULT_MAX_TRACKED,
  maxTrackedPerSeries: DEFAULT_MAX_TRACKED,
  receptionUnit: 'recipient',
  strictMonitors: false,
});

export const DEFAULT_BUDGETS: Budget = DEFAULT_BUDGET;

export function engineOptionsFrom(
  cfg: MoonwatchConfig,
  deps: { clock: Clock; logger: Logger; store: AuditStore; inject?: (m: InjectedMessage) => Promise<void> },
): EngineOptions {
  return {
    clock: deps.clock,
    logger: deps.logger,
    store: deps.store,
    scripts: {
      dir: cfg.scripts.dir,
      modules: cfg.scripts.modules,
      allowIo: cfg.scripts.allowIo,
      compatConnectionAlias: cfg.scripts.compatConnectionAlias,
      reloadDebounceMs: cfg.scripts.reloadDebounceMs,
      ...(cfg.scripts.sieve === undefined ? {} : { sieve: cfg.scripts.sieve }),
    },
    budget: { instructions: cfg.budgets.instructions, wallMs: cfg.budgets.wallMs },
    failureMode: cfg.failureMode,
    receptionUnit: cfg.inboundAudit.receptionUnit,
    hostname: cfg.hostname,
    compat: compatServicesFrom(cfg.compat, deps.clock, deps.inject),
  };
}

export function storeOptionsFrom(cfg: MoonwatchConfig, deps: { clock: Clock; logger: Logger }): AuditStoreOptions {
  return {
    clock: deps.clock,
    logger: deps.logger,
    monitors: cfg.inboundAudit.monitors,
    maxTrackedPerMonitor: cfg.inboundAudit.maxTrackedPerMonitor,
    maxTrackedPerSeries: cfg.inboundAudit.maxTrackedPerSeries,
    strictMonitors: cfg.inboundAudit.strictMonitors,
  };
}
