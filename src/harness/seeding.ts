/**
 * `seed` steps: history written into the store as if it had happened. The
 * store records into the current window only, and windows only rotate
 * forward, so the past is written by moving the virtual clock to each event's
 * instant, oldest first, before the fixture's start (the runner loads the
 * policy early enough for that). A seed later in a fixture can only write
 * "now".
 */
import { formatAddress, formatCidr, hostLength, type Cidr } from '../audit/address.ts';
import { parseMonitor, type MonitorSpec } from '../audit/monitor-spec.ts';
import { METRICS, type AuditStore } from '../audit/store.ts';
import { errorMessage } from '../errors.ts';
import { addressInBlock, checkCidr } from './addresses.ts';
import { formatDuration } from './duration.ts';
import { FixtureStepError, type SourcePos } from './errors.ts';
import type { SeedStep } from './fixture.ts';

/** How long before a fixture's start its seeded history may reach. */
export const MAX_SEED_LOOKBACK_MS = 366 * 86_400_000;

/** Whether a seed writes before the moment it runs (and so must run before time starts moving). */
export function seedsPast(step: SeedStep): boolean {
  return (step.window ?? 0) > 0 || (step.agoMs ?? 0) > 0;
}

/** The events' instant for a seed running at `nowMs`; checks the window exists. */
export function seedInstant(step: SeedStep, nowMs: number, store: AuditStore): number {
  if (step.agoMs !== undefined) return nowMs - step.agoMs;
  if (step.gauge !== undefined || step.open === true) return nowMs;
  const window = step.window ?? 0;
  if (step.metric !== undefined) {
    if (step.monitor === undefined) return nowMs;
    const shape = configuredMonitor(store, step.monitor, step.pos);
    if (window >= shape.windows) {
      throw new FixtureStepError(step.pos, `window ${window} is outside monitor ${step.monitor} (windows 0..${shape.windows - 1})`);
    }
    return nowMs - window * shape.width * 1000;
  }
  const info = seriesInfo(step, store);
  if (window >= info.windows) {
    throw new FixtureStepError(step.pos, `window ${window} is outside series "${step.series}" (windows 0..${info.windows - 1})`);
  }
  return nowMs - window * info.interval * 1000;
}

/** Writes the seed's events at the clock's current time. */
export function applySeed(step: SeedStep, store: AuditStore): void {
  try {
    if (step.node !== undefined) {
      applyNodeSeed(step, store, step.node);
      return;
    }
    if (step.gauge !== undefined) {
      const block = checkCidr(step.address!, step.pos, 'seed.address');
      for (let i = 0; i < step.count; i++) store.gauges.open(step.gauge, pick(block, i));
      return;
    }
    if (step.metric !== undefined) {
      const block = checkCidr(step.address!, step.pos, 'seed.address');
      for (let i = 0; i < step.count; i++) store.record(step.metric, pick(block, i));
      return;
    }
    const info = seriesInfo(step, store);
    if (step.key !== undefined) {
      if (info.type !== 'string') throw new FixtureStepError(step.pos, `series "${step.series}" is keyed by address (${info.type}); use "address"`);
      store.series.add(step.series!, step.key, step.count);
      return;
    }
    if (info.type === 'string') throw new FixtureStepError(step.pos, `series "${step.series}" is a string series; use "key"`);
    const block = checkCidr(step.address!, step.pos, 'seed.address');
    checkFamily(step, block, info.type);
    if (block.prefix === hostLength(block.addr.family)) store.series.add(step.series!, block.addr, step.count);
    else for (let i = 0; i < step.count; i++) store.series.add(step.series!, pick(block, i), 1);
  } catch (err) {
    if (err instanceof FixtureStepError) throw err;
    throw new FixtureStepError(step.pos, `seed failed: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * A seed "on" another node goes into the store's cluster copies through the
 * calls replication makes, so a policy reading cluster = true (or the
 * inbound_cidr service) sees it exactly as if that node had sent it. The
 * store becomes a cluster member with nothing to send.
 */
function applyNodeSeed(step: SeedStep, store: AuditStore, node: string): void {
  const cl = store.cluster ?? store.enableCluster({ outboxBound: 0 });
  const block = step.address === undefined ? undefined : checkCidr(step.address, step.pos, 'seed.address');
  if (step.open === true) {
    for (let i = 0; i < step.count; i++) cl.seedSessions(`${node}#fixture`, pick(block!, i), 1);
    return;
  }
  if (step.metric !== undefined) {
    const mi = METRICS.indexOf(step.metric);
    for (let i = 0; i < step.count; i++) cl.seedCounter(mi, pick(block!, i));
    return;
  }
  const info = seriesInfo(step, store);
  const id = { name: info.name, type: info.type, interval: info.interval, windows: info.windows };
  if (info.options.replicate !== 'cluster') {
    throw new FixtureStepError(step.pos, `series "${info.name}" is not defined with replicate = "cluster": other nodes' adds do not count in it`);
  }
  if (step.key !== undefined) {
    if (info.type !== 'string') throw new FixtureStepError(step.pos, `series "${step.series}" is keyed by address (${info.type}); use "address"`);
    cl.seedSeries(id, step.key, step.count);
    return;
  }
  if (info.type === 'string') throw new FixtureStepError(step.pos, `series "${step.series}" is a string series; use "key"`);
  checkFamily(step, block!, info.type);
  for (let i = 0; i < step.count; i++) cl.seedSeries(id, formatAddress(pick(block!, i)), 1);
}

export function describeSeed(step: SeedStep): string {
  const what = `${step.gauge !== undefined ? `${step.gauge} sessions` : step.open === true ? 'open sessions' : step.metric ?? `series ${step.series}`}${step.node === undefined ? '' : ` on node ${step.node}`}`;
  const when = step.agoMs !== undefined ? `${formatDuration(step.agoMs)} ago` : `window ${step.window ?? 0}${step.monitor ? ` of ${step.monitor}` : ''}`;
  return `seed ${step.count} ${what} for ${step.address ?? step.key} at ${when}`;
}

function pick(block: Cidr, i: number) {
  return block.prefix === hostLength(block.addr.family) ? block.addr : addressInBlock(block, i);
}

function seriesInfo(step: SeedStep, store: AuditStore) {
  try {
    return store.series.info(step.series!);
  } catch (err) {
    throw new FixtureStepError(step.pos, `${errorMessage(err)} (series are defined by the policy's init; is the module loaded?)`, { cause: err });
  }
}

/** A wrong-family address is a silent no-op in the store (spec §14 #12); in a fixture it is a mistake. */
function checkFamily(step: SeedStep, block: Cidr, type: string): void {
  const want = type === 'cidr' ? 4 : 6;
  if (block.addr.family !== want) {
    throw new FixtureStepError(step.pos, `series "${step.series}" holds IPv${want} addresses (${type}); ${formatCidr(block)} is IPv${block.addr.family}`);
  }
}

/** A monitor the store has (configured, or created by a script on first use). */
export function configuredMonitor(store: AuditStore, monitor: string, pos: SourcePos): MonitorSpec {
  if (!store.monitors().includes(monitor)) {
    throw new FixtureStepError(pos, `monitor "${monitor}" is not configured (configured: ${store.monitors().join(' ')})`);
  }
  return parseMonitor(monitor);
}
