import type { SnapshotBucket } from './series-snapshot.ts';

/**
 * One monitor's windows of the built-in metrics as plain data (persistence
 * with inbound_audit.persist_monitors). As for series, each window carries its
 * epoch-aligned start, and only per-address counts are exported.
 */
export interface MonitorSnapshot {
  /** Canonical "W,N". */
  monitor: string;
  connections: SnapshotBucket[];
  receptions: SnapshotBucket[];
  rejections: SnapshotBucket[];
}
