/**
 * `moonwatch serve --config FILE`: the composition root. The only place that
 * builds the concrete clock, logger, store, engine, sink and listener, and
 * wires signals:
 *   SIGHUP          re-read the config file and rebuild the script generation
 *                   (src/cli/live-config.ts says what applies live), which
 *                   re-reads the STARTTLS key and certificate too
 *   SIGTERM/SIGINT  stop accepting, let sessions finish within the grace
 *                   period, close the gauges, save persisted series, exit 0
 * and, when the config has a `control` section, the console control socket.
 */
import { AuditStore } from '../audit/store.ts';
import { SystemClock, type Clock } from '../clock.ts';
import { ConfigError } from '../config/errors.ts';
import { loadConfigFile } from '../config/load.ts';
import { engineOptionsFrom, storeOptionsFrom, type MoonwatchConfig } from '../config/schema.ts';
import { errorMessage, isMoonwatchError } from '../errors.ts';
import { createLogger, type Logger } from '../log.ts';
import { ScriptFault } from '../lua/errors.ts';
import { createEngine, type Engine } from '../policy/engine.ts';
import { ControlServer } from '../console/control-server.ts';
import { SeriesJournal } from '../persist/journal.ts';
import { MaintenanceLoop } from '../persist/maintenance.ts';
import { MonitorPersistence } from '../persist/monitor-persistence.ts';
import { SeriesPersistence } from '../persist/series-persistence.ts';
import { startSmtpServer, type SmtpListener } from '../smtp/server.ts';
import { createSink, type Sink } from '../smtp/sink.ts';
import { parseArgs, UsageError } from './args.ts';
import type { ClusterNode } from '../cluster/node.ts';
import { LiveConfig } from './live-config.ts';
import { startObservability, type Observability } from './observability.ts';

export const SERVE_USAGE = `usage: moonwatch serve --config FILE [--strict]

Runs the SMTP listener with the policies and settings of FILE (YAML or JSON;
see docs/config.md).

options:
  -c, --config FILE   the config file (required)
      --strict        refuse to start when saved audit state is unusable
                      (corrupt, another version, reshaped) instead of
                      setting it aside and starting that series empty
  -h, --help          show this help
`;

/** What serve needs from the process; tests may pass their own. */
export interface ServeIo {
  readonly stdout: { write(s: string): unknown; isTTY?: boolean };
  readonly stderr: { write(s: string): unknown };
  readonly signals: { on(signal: NodeJS.Signals, fn: () => void): unknown; off(signal: NodeJS.Signals, fn: () => void): unknown };
  /** The counters' clock (tests pin it so windows do not roll under them); the system clock by default. */
  readonly clock?: Clock;
}

const processIo: ServeIo = { stdout: process.stdout, stderr: process.stderr, signals: process };

/** Resolves with the exit code once the server has stopped (or could not start). */
export async function runServe(argv: readonly string[], io: ServeIo = processIo): Promise<number> {
  let configPath: string;
  let strict = false;
  try {
    const args = parseArgs(argv, [
      { name: 'config', alias: 'c' },
      { name: 'strict', switch: true },
      { name: 'help', alias: 'h', switch: true },
    ]);
    strict = args.flags.has('strict');
    if (args.flags.has('help')) {
      io.stdout.write(SERVE_USAGE);
      return 0;
    }
    if (args.positional.length > 0) throw new UsageError(`unexpected argument ${args.positional[0]}`);
    const c = args.flags.get('config');
    if (typeof c !== 'string') throw new UsageError('--config FILE is required');
    configPath = c;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr.write(`moonwatch serve: ${err.message}\n\n${SERVE_USAGE}`);
    return 2;
  }

  let config: MoonwatchConfig;
  try {
    config = loadConfigFile(configPath);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.stderr.write(`moonwatch serve: bad config: ${err.message}\n`);
    return 1;
  }
  const logger = createLogger({ level: config.log.level, pretty: io.stdout.isTTY === true, iso: true });
  try {
    const running = await start(config, logger, strict, io.clock);
    return await serveUntilSignal(running, config, logger, io);
  } catch (err) {
    logger.fatal({ err: errorMessage(err), code: isMoonwatchError(err) ? err.code : undefined, ...faultPosition(err) }, 'moonwatch could not start');
    io.stderr.write(`moonwatch serve: could not start: ${errorMessage(err)}\n`);
    return 1;
  } finally {
    // The log is written in batches (src/log.ts): the last lines go out before the process exits.
    logger.flush();
  }
}

interface Running {
  readonly engine: Engine;
  readonly sink: Sink;
  readonly listener: SmtpListener;
  readonly maintenance: MaintenanceLoop;
  readonly control: ControlServer | undefined;
  readonly cluster: ClusterNode | undefined;
  readonly live: LiveConfig;
  readonly observe: Observability;
}

async function start(config: MoonwatchConfig, logger: Logger, strict: boolean, pinnedClock?: Clock): Promise<Running> {
  const clock = pinnedClock ?? new SystemClock();
  const store = new AuditStore(storeOptionsFrom(config, { clock, logger }));
  // Clustered: the store takes its outbox and remote copies before any script runs.
  const clusterState = config.cluster === undefined ? undefined : store.enableCluster({ families: config.cluster.replicate, outboxBound: config.cluster.maxBuffered });
  const ia = config.inboundAudit;
  const persistence = new SeriesPersistence({ dir: ia.serializeDir, series: store.series, clock, logger, strict });
  const journal = new SeriesJournal({ dir: ia.logDir, series: store.series, clock, logger, periodSec: ia.maintenanceInterval });
  // Monitors exist from the config on: restore them before any session counts.
  const monitors = ia.persistMonitors ? new MonitorPersistence({ dir: ia.serializeDir, store, clock, logger }) : undefined;
  monitors?.restore(strict);
  // Series appear only when init defines them, after the store exists: restore each then.
  store.series.onDefine((name: string) => {
    persistence.onDefined(name);
    journal.onDefined(name);
  });
  // msg:inject hands messages to the sink, which opens after the engine.
  const injectVia: { sink?: Sink } = {};
  const inject = async (m: { mailFrom: string; recipients: readonly string[]; raw: Buffer }): Promise<void> => {
    if (injectVia.sink === undefined) throw new Error('the sink is not open yet');
    await injectVia.sink.deliver({ sessionId: 'inject', mailFrom: m.mailFrom, recipients: [...m.recipients], raw: m.raw });
  };
  // Metrics, status figures, the live config and the HTTP listener: src/cli/observability.ts.
  const observe = await startObservability({ config, store, clock, logger });
  const engine = await createEngine({ ...engineOptionsFrom(config, { clock, logger, store, inject }), observer: observe.metrics });
  let sink: Sink | undefined;
  let control: ControlServer | undefined;
  let cluster: ClusterNode | undefined;
  try {
    persistence.finishStartup();
    // After init defined the series; never waits for Redis.
    // Loaded only when configured: a single node never loads the Redis client.
    if (config.cluster !== undefined && clusterState !== undefined) {
      const { startCluster } = await import('../cluster/start.ts');
      cluster = startCluster(config.cluster, { store, state: clusterState, clock, logger, logDir: ia.logDir });
    }
    if (config.scripts.hotReload) await engine.watch();
    sink = observe.metrics.countSinkErrors(await createSink(config.sink, { clock, logger, hostname: config.hostname }));
    injectVia.sink = sink;
    if (config.control !== undefined) {
      control = await ControlServer.start({
        ...(config.control.socket === undefined ? {} : { socketPath: config.control.socket }),
        ...(config.control.tcp === undefined ? {} : { tcp: config.control.tcp }),
        ...(config.control.token === undefined ? {} : { token: config.control.token }),
        logger,
        deps: {
          store,
          // Console reload re-reads the config too, and status shows the server's figures.
          engine: observe.consoleEngine(engine),
          serializeDir: ia.serializeDir,
          logger,
          afterReload: () => persistence.restorePending(),
          extraStatus: () => observe.statusLines(),
          ...(cluster === undefined ? {} : { cluster }),
        },
      });
    }
    const listener = await startSmtpServer({ config, engine, sink, logger, clock });
    const live = new LiveConfig(config, sink, {
      engine,
      listener,
      store,
      clock,
      logger,
      engineExtras: { observer: observe.metrics },
      wrapSink: (s) => observe.metrics.countSinkErrors(s),
      afterReload: () => persistence.restorePending(),
    });
    await observe.serve({ engine, listener, live });
    const maintenance = new MaintenanceLoop({ store, persistence, journal, ...(monitors === undefined ? {} : { monitors }), clock, logger, intervalSec: ia.maintenanceInterval });
    maintenance.start();
    const status = engine.status();
    logger.info(
      {
        config: config.file,
        generation: status.generation,
        scripts: status.scripts,
        listen: listener.addresses().map((a) => a.id),
        sink: sink.type,
        starttls: config.tls !== undefined,
        hot_reload: config.scripts.hotReload,
        ...(control === undefined ? {} : { control: control.addresses() }),
        ...(observe.httpAddress() === undefined ? {} : { http: observe.httpAddress() }),
      },
      'moonwatch serving',
    );
    return { engine, sink, listener, maintenance, control, cluster, live, observe };
  } catch (err) {
    await observe.close();
    await control?.close();
    await cluster?.stop();
    await engine.close();
    await sink?.close();
    throw err;
  }
}

function serveUntilSignal(running: Running, config: MoonwatchConfig, logger: Logger, io: ServeIo): Promise<number> {
  return new Promise((resolve) => {
    const onHup = (): void => {
      logger.info({ signal: 'SIGHUP' }, 'reload requested');
      void running.live.reload('SIGHUP');
    };
    let stopping = false;
    const onStop = (signal: NodeJS.Signals) => (): void => {
      if (stopping) {
        logger.info({ signal }, 'already shutting down');
        return;
      }
      stopping = true;
      logger.info({ signal, grace_ms: config.limits.shutdownGraceMs }, 'shutting down');
      void stop(running, config, logger).then(
        () => {
          cleanup();
          logger.info('moonwatch stopped');
          resolve(0);
        },
        (err: unknown) => {
          cleanup();
          logger.error({ err: errorMessage(err) }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    const onTerm = onStop('SIGTERM');
    const onInt = onStop('SIGINT');
    const cleanup = (): void => {
      io.signals.off('SIGHUP', onHup);
      io.signals.off('SIGTERM', onTerm);
      io.signals.off('SIGINT', onInt);
    };
    io.signals.on('SIGHUP', onHup);
    io.signals.on('SIGTERM', onTerm);
    io.signals.on('SIGINT', onInt);
  });
}

async function stop(running: Running, config: MoonwatchConfig, logger: Logger): Promise<void> {
  // Console first: nothing changes the counters behind the final save.
  await running.control?.close();
  running.observe.stopping();
  try {
    await running.listener.close(running.live.config.limits.shutdownGraceMs);
  } finally {
    // The shutdown save must happen even if draining the sessions failed.
    running.maintenance.stop();
  }
  // Sessions are closed: the final batch carries their gauge closes.
  await running.cluster?.stop();
  await running.engine.close();
  await running.live.activeSink.close();
  await running.live.close();
  await running.observe.close();
  const s = running.engine.status();
  logger.info({ open_sessions: s.openSessions, accepted: running.listener.stats().accepted }, 'all sessions closed');
}

function faultPosition(err: unknown): { script?: string; line?: number } {
  if (!(err instanceof ScriptFault)) return {};
  return {
    ...(err.script === undefined ? {} : { script: err.script }),
    ...(err.line === undefined ? {} : { line: err.line }),
  };
}
