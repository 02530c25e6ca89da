/**
 * What `serve` adds for operators around the engine and the listener: the
 * metrics (fed as the policy observer), the optional HTTP listener for
 * /metrics and /healthz, the `status` lines of the console (version, uptime,
 * listeners, config hash and load time, sessions, verdict totals), reload
 * counting, and the watch on the config file that reloads it on change.
 */
import { readFileSync } from 'node:fs';
import { dirname, basename } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { AuditStore } from '../audit/store.ts';
import type { Clock } from '../clock.ts';
import type { MoonwatchConfig } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { Engine, EngineStatus, ReloadResult } from '../policy/engine.ts';
import type { SmtpListener } from '../smtp/server.ts';
import { ObserveHttp } from '../observe/http.ts';
import { ServerMetrics } from '../observe/metrics.ts';
import type { LiveConfig } from './live-config.ts';

export interface ObservabilityDeps {
  readonly config: MoonwatchConfig;
  readonly store: AuditStore;
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface Observability {
  readonly metrics: ServerMetrics;
  /** What the console drives: reload re-reads the config (once serving), status reports the config's reload error. */
  consoleEngine(engine: Engine): { reload(reason?: string): Promise<ReloadResult>; status(): EngineStatus };
  /** Starts the HTTP listener (if configured) and the config-file watch once the SMTP listener serves. */
  serve(parts: { engine: Engine; listener: SmtpListener; live: LiveConfig }): Promise<void>;
  statusLines(): string[];
  httpAddress(): string | undefined;
  /** Shutdown has begun: /healthz answers 503. */
  stopping(): void;
  close(): Promise<void>;
}

export async function startObservability(deps: ObservabilityDeps): Promise<Observability> {
  const startedAt = deps.clock.now();
  let parts: { engine: Engine; listener: SmtpListener; live: LiveConfig } | undefined;
  let http: ObserveHttp | undefined;
  let watcher: FSWatcher | undefined;
  let shuttingDown = false;
  const metrics = new ServerMetrics({
    store: deps.store,
    sessions: () => {
      const s = parts?.listener.stats();
      return { accepted: s?.accepted ?? 0, open: s?.open ?? 0 };
    },
    generation: () => parts?.engine.status().generation ?? 0,
  });
  const version = packageVersion();

  const reload = async (reason: string): Promise<ReloadResult> => {
    if (parts === undefined) throw new Error('not serving yet');
    const r = await parts.live.reload(reason);
    metrics.reloads.inc({ result: r.ok ? 'ok' : 'failed' });
    return r;
  };

  return {
    metrics,
    consoleEngine: (engine) => ({
      reload: (reason?: string) => (parts === undefined ? engine.reload(reason) : reload(reason ?? 'console')),
      status: () => (parts === undefined ? engine.status() : parts.live.engineStatus()),
    }),
    async serve(p) {
      parts = p;
      const cfg = p.live.config;
      if (cfg.http !== undefined) {
        http = await ObserveHttp.start({
          listen: cfg.http,
          registry: metrics.registry,
          logger: deps.logger,
          unhealthy: () => {
            if (shuttingDown) return 'shutting down';
            if (p.listener.addresses().length === 0) return 'not listening';
            return undefined;
          },
        });
        deps.logger.info({ address: http.address() }, 'metrics listening');
      }
      if (cfg.scripts.hotReload) {
        // The directory is watched, not the file: editors save by renaming a new file over the old one.
        const file = cfg.file;
        let timer: NodeJS.Timeout | undefined;
        watcher = watch(dirname(file), { ignoreInitial: true, depth: 0, ignored: (path: string) => path !== dirname(file) && basename(path) !== basename(file) });
        watcher.on('all', (_event: string, path: string) => {
          if (path !== file) return;
          clearTimeout(timer);
          timer = setTimeout(() => void reload('config file change'), cfg.scripts.reloadDebounceMs);
        });
        await new Promise<void>((resolve) => watcher!.once('ready', () => resolve()));
      }
    },
    statusLines() {
      if (parts === undefined) return [];
      const live = parts.live.status();
      const stats = parts.listener.stats();
      const totals = [...metrics.verdictTotals].map(([k, v]) => `${k}=${v}`).join(' ');
      return [
        `version: ${version}`,
        `uptime: ${Math.round((deps.clock.now() - startedAt) / 1000)}s`,
        `listen: ${parts.listener.addresses().map((a) => a.id).join(' ')}`,
        ...(http === undefined ? [] : [`http: ${http.address()}`]),
        `sessions: accepted=${stats.accepted} open=${stats.open} refused_by_caps=${stats.refusedByCaps}`,
        `verdicts: ${totals === '' ? '(none yet)' : totals}`,
        `config: ${parts.live.config.file}`,
        `config hash: ${live.hash.slice(0, 16)}`,
        `config loaded: ${new Date(live.loadedAt).toISOString()}`,
        ...(live.pendingRestart.length === 0 ? [] : [`config pending restart: ${live.pendingRestart.join(', ')}`]),
      ];
    },
    httpAddress: () => http?.address(),
    stopping() {
      shuttingDown = true;
    },
    async close() {
      await watcher?.close();
      watcher = undefined;
      await http?.close();
      http = undefined;
    },
  };
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
