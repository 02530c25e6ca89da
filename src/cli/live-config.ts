/**
 * The running server's config, re-read on SIGHUP, `console reload` and a
 * change to the config file. What a reload applies to the sessions that open
 * from then on: the module list and the scripts, budgets, failure mode,
 * limits and connection caps, XCLIENT trust, hostname and banner, the STARTTLS
 * key and certificate, the log level and the sink. What it cannot change
 * while serving (RESTART_ONLY: listen addresses, the control socket, the
 * inbound_audit store, turning STARTTLS on or off) keeps its running value,
 * and the reload says so in one warning line naming each setting; the rest
 * applies. A reload that fails (bad config, a script that does not build, a
 * sink that cannot open) changes nothing and is reported in `status` until a
 * later reload succeeds.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import type { AuditStore } from '../audit/store.ts';
import type { Clock } from '../clock.ts';
import { ConfigError } from '../config/errors.ts';
import { loadConfigFile } from '../config/load.ts';
import { engineOptionsFrom, type MoonwatchConfig } from '../config/schema.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Engine, EngineStatus, ReloadResult } from '../policy/engine.ts';
import type { EngineOptions } from '../policy/engine-options.ts';
import type { SmtpListener } from '../smtp/server.ts';
import { createSink, type Sink } from '../smtp/sink.ts';
import { ScriptFault } from '../lua/errors.ts';

/** Settings a reload cannot change (file spelling), with where their value lives in the config. */
export const RESTART_ONLY: readonly { readonly setting: string; readonly pick: (c: MoonwatchConfig) => unknown }[] = [
  { setting: 'listen', pick: (c) => c.listen },
  { setting: 'control', pick: (c) => c.control },
  { setting: 'inbound_audit', pick: (c) => c.inboundAudit },
  { setting: 'tls (on/off)', pick: (c) => c.tls !== undefined },
  { setting: 'http', pick: (c) => c.http },
];

export interface LiveConfigDeps {
  readonly engine: Engine;
  readonly listener: SmtpListener;
  readonly store: AuditStore;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Engine options beyond the config (the metrics observer). */
  readonly engineExtras?: Partial<EngineOptions>;
  /** Wraps a newly built sink (metrics count its errors). */
  readonly wrapSink?: (sink: Sink) => Sink;
  /** Runs after a successful reload (restores persisted series the new init defined). */
  readonly afterReload?: () => void;
}

export interface LiveConfigStatus {
  readonly hash: string;
  /** Clock ms of the last successful load. */
  readonly loadedAt: number;
  readonly lastReloadError?: string;
  /** Settings changed in the file that keep their running value until a restart. */
  readonly pendingRestart: readonly string[];
}

export class LiveConfig {
  private current: MoonwatchConfig;
  private hash: string;
  private loadedAt: number;
  private lastError: string | undefined;
  private pending: string[] = [];
  private sink: Sink;
  private readonly retiredSinks: Sink[] = [];
  private running: Promise<ReloadResult> | undefined;
  private queued: Promise<ReloadResult> | undefined;

  constructor(
    config: MoonwatchConfig,
    sink: Sink,
    private readonly deps: LiveConfigDeps,
  ) {
    this.current = config;
    this.sink = sink;
    this.hash = fileHash(config.file);
    this.loadedAt = deps.clock.now();
  }

  get config(): MoonwatchConfig {
    return this.current;
  }

  get activeSink(): Sink {
    return this.sink;
  }

  status(): LiveConfigStatus {
    return {
      hash: this.hash,
      loadedAt: this.loadedAt,
      ...(this.lastError === undefined ? {} : { lastReloadError: this.lastError }),
      pendingRestart: [...this.pending],
    };
  }

  /** The engine's status; the last reload error is the config's, else the scripts' (a file-change rebuild). */
  engineStatus(): EngineStatus {
    const s = this.deps.engine.status();
    const { lastReloadError: scripts, ...rest } = s;
    const error = this.lastError ?? scripts;
    return { ...rest, ...(error === undefined ? {} : { lastReloadError: error }) };
  }

  /**
   * Re-reads the config file and the scripts. A call while a reload runs is
   * not folded into it (that one may have read the file before this change):
   * one more reload follows it, shared by every call made meanwhile.
   */
  reload(reason = 'manual'): Promise<ReloadResult> {
    if (this.running !== undefined) {
      this.queued ??= this.running.then(() => {
        this.queued = undefined;
        return this.reload(reason);
      });
      return this.queued;
    }
    this.running = this.doReload(reason).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Closes sinks replaced by reloads (at shutdown, once no session can use them). */
  async close(): Promise<void> {
    await this.queued;
    await this.running;
    for (const s of this.retiredSinks.splice(0)) await s.close().catch(() => undefined);
  }

  private fail(reason: string, message: string, fields: Record<string, unknown> = {}): ReloadResult {
    this.lastError = message;
    this.deps.logger.error({ reason, ...fields, err: message }, 'reload failed: keeping the running config and scripts');
    return { ok: false, error: new ScriptFault('load', message) };
  }

  private async doReload(reason: string): Promise<ReloadResult> {
    const { logger, engine, listener } = this.deps;
    let next: MoonwatchConfig;
    let hash: string;
    try {
      hash = fileHash(this.current.file);
      next = loadConfigFile(this.current.file);
    } catch (err) {
      if (err instanceof ConfigError) {
        // A certificate renewal caught half-written is the common case: say so in the words an operator greps for.
        if (err.setting.startsWith('tls.')) logger.error({ reason, setting: err.setting }, `tls not reloaded, still serving the previous certificate: ${err.problem}`);
        return this.fail(reason, err.message, { config: err.file, line: err.line, setting: err.setting });
      }
      return this.fail(reason, errorMessage(err));
    }
    // Restart-only settings keep their running values; the rest of the file applies.
    const pending = RESTART_ONLY.filter((r) => !isDeepStrictEqual(r.pick(next), r.pick(this.current))).map((r) => r.setting);
    const effective: MoonwatchConfig = {
      ...next,
      listen: this.current.listen,
      inboundAudit: this.current.inboundAudit,
      ...(this.current.http === undefined ? {} : { http: this.current.http }),
      ...(this.current.control === undefined ? {} : { control: this.current.control }),
    };
    if (this.current.control === undefined) delete (effective as { control?: unknown }).control;
    if (this.current.http === undefined) delete (effective as { http?: unknown }).http;
    const tlsFlip = (next.tls === undefined) !== (this.current.tls === undefined);
    if (tlsFlip) {
      if (this.current.tls === undefined) delete (effective as { tls?: unknown }).tls;
      else (effective as { tls?: unknown }).tls = this.current.tls;
    }

    let sink = this.sink;
    const sinkChanged = !isDeepStrictEqual(next.sink, this.current.sink) || next.hostname !== this.current.hostname;
    if (sinkChanged) {
      try {
        const built = await createSink(next.sink, { clock: this.deps.clock, logger, hostname: next.hostname });
        sink = this.deps.wrapSink === undefined ? built : this.deps.wrapSink(built);
      } catch (err) {
        return this.fail(reason, `sink: ${errorMessage(err)}`);
      }
    }
    const result = await engine.reconfigure({ ...engineOptionsFrom(effective, { clock: this.deps.clock, logger, store: this.deps.store }), ...this.deps.engineExtras }, reason);
    if (!result.ok) {
      if (sink !== this.sink) await sink.close().catch(() => undefined);
      const f = result.error;
      return this.fail(reason, f.message, { ...(f.script === undefined ? {} : { script: f.script }), ...(f.line === undefined ? {} : { line: f.line }) });
    }
    listener.updateConfig(effective, sink);
    if (sink !== this.sink) {
      this.retiredSinks.push(this.sink);
      this.sink = sink;
    }
    const old = this.current.tls;
    if (effective.tls !== undefined && old !== undefined && !(effective.tls.cert.equals(old.cert) && effective.tls.key.equals(old.key))) {
      logger.info({ cert: effective.tls.certFile }, 'tls certificate reloaded');
    }
    logger.level = effective.log.level;
    this.current = effective;
    this.hash = hash;
    this.loadedAt = this.deps.clock.now();
    this.lastError = undefined;
    this.pending = pending;
    if (pending.length > 0) {
      logger.warn({ reason, settings: pending }, `reload: ${pending.join(', ')} changed in the config file but cannot change while serving: they keep their running values until a restart`);
    }
    logger.info({ reason, config: effective.file, config_hash: hash.slice(0, 12), generation: result.generation }, 'reload: config applied');
    this.deps.afterReload?.();
    return result;
  }
}

function fileHash(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}
