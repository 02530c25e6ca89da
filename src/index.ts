/** The public API of moonwatch. Every export is listed by name. */
export { MoonwatchError, isMoonwatchError } from './errors.ts';
export { SystemClock, ManualClock, type Clock } from './clock.ts';
export { createLogger, captureLogger, type Logger, type LogRecord } from './log.ts';

export { AuditStore, METRICS, type Metric, type AuditStoreOptions } from './audit/store.ts';
export { parseAddress, parseCidr, hostCidr, cidrOf, sameAddress, formatAddress, formatCidr, type IpAddress, type Cidr } from './audit/address.ts';
export { SessionGauges, SERVICES, type GaugeHandle } from './audit/gauges.ts';
export { SeriesRegistry, type SeriesType, type SeriesOptions, type SeriesInfo } from './audit/series.ts';

export { ScriptFault } from './lua/errors.ts';
export type { Budget } from './lua/vm.ts';

export { createEngine, Engine, type EngineStatus, type ReloadResult } from './policy/engine.ts';
export { DEFAULT_FAILURE_MODE, type EngineOptions, type FailureMode, type ScriptsOptions } from './policy/engine-options.ts';
export { PHASES, type PhaseName, type PhaseSpec } from './policy/phases.ts';
export { CONTINUE, type Verdict, type VerdictAction } from './policy/verdict.ts';
export type {
  AcceptedMessage,
  CloseReason,
  Deliver,
  Endpoint,
  MessageInput,
  PolicyEngine,
  PolicySession,
  SessionOptions,
} from './policy/session-api.ts';
export type { Eventually } from './eventually.ts';

export { loadConfigFile, parseConfig } from './config/load.ts';
export { engineOptionsFrom, storeOptionsFrom, type MoonwatchConfig } from './config/schema.ts';
export { ConfigError } from './config/errors.ts';

export { startSmtpServer, type SmtpListener, type SmtpServerOptions } from './smtp/server.ts';
export { createSink, DiscardSink, type Sink } from './smtp/sink.ts';

export { runConsoleLine, type ConsoleDeps } from './console/commands.ts';
export { ConsoleClient } from './console/client.ts';
export { ControlServer, type ControlServerOptions } from './console/control-server.ts';
export { SeriesPersistence } from './persist/series-persistence.ts';
export { MonitorPersistence } from './persist/monitor-persistence.ts';
export { SeriesJournal } from './persist/journal.ts';
export { MaintenanceLoop } from './persist/maintenance.ts';
export { writeFileAtomic } from './persist/atomic-file.ts';

export { parseSieve } from './sieve/parser.ts';
export { SIEVE_PHASES, type SievePhase, type SieveScriptsOptions } from './sieve/config.ts';
export { SieveParseError, SieveRuntimeError } from './sieve/errors.ts';

// Cluster: the in-memory remote state is exported; the Redis side is started by
// `moonwatch serve` and loaded only when a config has a cluster section, so
// importing moonwatch never loads the Redis client.
export { ClusterState, type ClusterFamilies } from './audit/cluster-state.ts';
export type { ClusterConfig } from './config/cluster.ts';
export type { ClusterSettings, ClusterStatus } from './cluster/node.ts';
