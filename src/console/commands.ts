import type { AuditStore } from '../audit/store.ts';
import { errorMessage, isMoonwatchError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { EngineStatus, ReloadResult } from '../policy/engine.ts';
import { AUDIT_HELP, runAuditCommand } from './audit-commands.ts';
import { CLUSTER_HELP, runClusterCommand, type ClusterConsole } from './cluster-commands.ts';
import { ConsoleCommandError } from './errors.ts';
import { tokenize } from './tokenize.ts';

/** What console commands act on; the serve command passes the live objects. */
export interface ConsoleDeps {
  store: AuditStore;
  engine: { reload(reason?: string): Promise<ReloadResult>; status(): EngineStatus };
  /** Where `load` may read files. */
  serializeDir: string;
  logger: Logger;
  /** Runs after a successful reload (restores persisted series the new init defined). */
  afterReload?: () => void;
  /** Present on a clustered node. */
  cluster?: ClusterConsole;
  /** More `status` lines from the server (version, uptime, listeners, config hash, verdict totals). */
  extraStatus?: () => string[];
}

const HELP = [
  ...AUDIT_HELP,
  ...CLUSTER_HELP,
  'reload                                                 rebuild the script generation from disk',
  'status                                                 generation, scripts, sessions, tracked keys',
  'series list                                            defined series with shape, options and keys',
  'help                                                   this summary',
];

/**
 * Runs one console line and returns its output lines. Never throws for bad
 * input: the answer is then a single `Error: …` line and nothing changed (every
 * argument is checked before the store is touched).
 */
export async function runConsoleLine(line: string, deps: ConsoleDeps): Promise<string[]> {
  try {
    const words = tokenize(line);
    if (words.length === 0) return [];
    const [first, ...rest] = words as [string, ...string[]];
    // `inbound_audit:<instance>` is the pre-3.0.23 form; the instance is ignored (spec §14 #40).
    if (first === 'inbound_audit' || first.startsWith('inbound_audit:')) return runAuditCommand(rest, deps);
    switch (first) {
      case 'help':
        expectNone(rest, 'help');
        return HELP;
      case 'reload':
        expectNone(rest, 'reload');
        return await reload(deps);
      case 'status':
        expectNone(rest, 'status');
        return status(deps);
      case 'series':
        if (rest.length !== 1 || rest[0] !== 'list') throw new ConsoleCommandError('usage: series list');
        return seriesList(deps.store);
      case 'cluster':
        return runClusterCommand(rest, deps.store, deps.cluster);
      case 'show':
      case 'count_cidr':
      case 'add':
      case 'subtract':
      case 'delete_ip':
      case 'load':
        // The inbound_audit prefix is optional at this console.
        return runAuditCommand(words, deps);
      default:
        throw new ConsoleCommandError(`unknown command "${first.slice(0, 60)}" (try: help)`);
    }
  } catch (err) {
    if (!isMoonwatchError(err)) {
      deps.logger.error({ err: errorMessage(err), line: line.slice(0, 200) }, 'console command failed unexpectedly');
    }
    return [`Error: ${oneLine(errorMessage(err))}`];
  }
}

async function reload(deps: ConsoleDeps): Promise<string[]> {
  const r = await deps.engine.reload('console');
  if (!r.ok) throw new ConsoleCommandError(`reload failed, generation ${deps.engine.status().generation} stays live: ${r.error.message}`);
  deps.afterReload?.();
  return [r.unchanged ? `OK generation ${r.generation} (scripts unchanged)` : `OK generation ${r.generation}`];
}

function status(deps: ConsoleDeps): string[] {
  const s = deps.engine.status();
  const a = deps.store.stats();
  return [
    `generation: ${s.generation}`,
    `scripts: ${s.scripts.join(' ') || '(none)'}`,
    `live generations: ${s.liveGenerations}`,
    `open sessions: ${s.openSessions}`,
    `monitors: ${deps.store.monitors().join(' ') || '(none)'}`,
    `series: ${a.series}`,
    `tracked addresses: ${a.trackedAddresses}`,
    `tracked series keys: ${deps.store.series.list().reduce((n, s) => n + s.keys, 0)}`,
    `degraded events: ${a.degradedEvents}`,
    `last reload error: ${s.lastReloadError === undefined ? 'none' : oneLine(s.lastReloadError)}`,
    ...(deps.extraStatus?.() ?? []),
  ];
}

function seriesList(store: AuditStore): string[] {
  const list = store.series.list();
  if (list.length === 0) return ['(no series defined)'];
  return list.map(
    (s) =>
      `${s.name} ${s.type} ${s.interval},${s.windows} keys=${s.keys} persist=${s.options.persist} serialize=${s.options.serialize} replicate=${s.options.replicate}`,
  );
}

function expectNone(rest: readonly string[], cmd: string): void {
  if (rest.length > 0) throw new ConsoleCommandError(`${cmd} takes no arguments`);
}

function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ');
}
