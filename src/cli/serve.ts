/**
 * `moonwatch serve --config FILE`: the composition root. The only place that
 * builds the concrete clock, logger, store, engine, sink and listener, and
 * wires signals:
 *   SIGHUP          rebuild the script generation (same as a file change)
 *   SIGTERM/SIGINT  stop accepting, let sessions finish within the grace
 *                   period, close the gauges, exit 0
 */
import { AuditStore } from '../audit/store.ts';
import { SystemClock } from '../clock.ts';
import { ConfigError } from '../config/errors.ts';
import { loadConfigFile } from '../config/load.ts';
import { engineOptionsFrom, storeOptionsFrom, type MoonwatchConfig } from '../config/schema.ts';
import { errorMessage, isMoonwatchError } from '../errors.ts';
import { createLogger, type Logger } from '../log.ts';
import { ScriptFault } from '../lua/errors.ts';
import { createEngine, type Engine } from '../policy/engine.ts';
import { startSmtpServer, type SmtpListener } from '../smtp/server.ts';
import { createSink, type Sink } from '../smtp/sink.ts';
import { parseArgs, UsageError } from './args.ts';

export const SERVE_USAGE = `usage: moonwatch serve --config FILE

Runs the SMTP listener with the policies and settings of FILE (YAML or JSON;
see docs/config.md).

options:
  -c, --config FILE   the config file (required)
  -h, --help          show this help
`;

/** What serve needs from the process; tests may pass their own. */
export interface ServeIo {
  readonly stdout: { write(s: string): unknown; isTTY?: boolean };
  readonly stderr: { write(s: string): unknown };
  readonly signals: { on(signal: NodeJS.Signals, fn: () => void): unknown; off(signal: NodeJS.Signals, fn: () => void): unknown };
}

const processIo: ServeIo = { stdout: process.stdout, stderr: process.stderr, signals: process };

/** Resolves with the exit code once the server has stopped (or could not start). */
export async function runServe(argv: readonly string[], io: ServeIo = processIo): Promise<number> {
  let configPath: string;
  try {
    const args = parseArgs(argv, [
      { name: 'config', alias: 'c' },
      { name: 'help', alias: 'h', switch: true },
    ]);
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
  const logger = createLogger({ level: config.log.level, pretty: io.stdout.isTTY === true });
  try {
    const running = await start(config, logger);
    return await serveUntilSignal(running, config, logger, io);
  } catch (err) {
    logger.fatal({ err: errorMessage(err), code: isMoonwatchError(err) ? err.code : undefined, ...faultPosition(err) }, 'moonwatch could not start');
    io.stderr.write(`moonwatch serve: could not start: ${errorMessage(err)}\n`);
    return 1;
  }
}

interface Running {
  readonly engine: Engine;
  readonly sink: Sink;
  readonly listener: SmtpListener;
  readonly maintenance: NodeJS.Timeout;
}

async function start(config: MoonwatchConfig, logger: Logger): Promise<Running> {
  const clock = new SystemClock();
  const store = new AuditStore(storeOptionsFrom(config, { clock, logger }));
  const engine = await createEngine(engineOptionsFrom(config, { clock, logger, store }));
  let sink: Sink | undefined;
  try {
    if (config.scripts.hotReload) await engine.watch();
    sink = await createSink(config.sink, { clock, logger, hostname: config.hostname });
    const listener = await startSmtpServer({ config, engine, sink, logger, clock });
    const maintenance = setInterval(() => {
      try {
        store.maintain();
      } catch (err) {
        logger.error({ err: errorMessage(err) }, 'audit store maintenance failed');
      }
    }, config.inboundAudit.maintenanceInterval * 1000);
    maintenance.unref();
    const status = engine.status();
    logger.info(
      {
        config: config.file,
        generation: status.generation,
        scripts: status.scripts,
        listen: listener.addresses().map((a) => a.id),
        sink: sink.type,
        hotReload: config.scripts.hotReload,
      },
      'moonwatch serving',
    );
    return { engine, sink, listener, maintenance };
  } catch (err) {
    await engine.close();
    await sink?.close();
    throw err;
  }
}

function serveUntilSignal(running: Running, config: MoonwatchConfig, logger: Logger, io: ServeIo): Promise<number> {
  return new Promise((resolve) => {
    const onHup = (): void => {
      logger.info({ signal: 'SIGHUP' }, 'reload requested');
      void running.engine.reload('SIGHUP');
    };
    let stopping = false;
    const onStop = (signal: NodeJS.Signals) => (): void => {
      if (stopping) {
        logger.info({ signal }, 'already shutting down');
        return;
      }
      stopping = true;
      logger.info({ signal, graceMs: config.limits.shutdownGraceMs }, 'shutting down');
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
  await running.listener.close(config.limits.shutdownGraceMs);
  clearInterval(running.maintenance);
  await running.engine.close();
  await running.sink.close();
  const s = running.engine.status();
  logger.info({ openSessions: s.openSessions, accepted: running.listener.stats().accepted }, 'all sessions closed');
}

function faultPosition(err: unknown): { script?: string; line?: number } {
  if (!(err instanceof ScriptFault)) return {};
  return {
    ...(err.script === undefined ? {} : { script: err.script }),
    ...(err.line === undefined ? {} : { line: err.line }),
  };
}
