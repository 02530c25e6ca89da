/**
 * Where accepted messages go. A sink's deliver resolves only once the message
 * is safe to acknowledge (durable on disk, or accepted by the next hop); the
 * front answers 250 after that and never before.
 */
import type { Clock } from '../clock.ts';
import type { SinkConfig } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { AcceptedMessage } from '../policy/session-api.ts';
import { MaildirSink, type MaildirFs } from './maildir-sink.ts';
import { RelaySink } from './relay-sink.ts';

export interface Sink {
  readonly type: string;
  /** Resolves with an identifier for the log line (file name, next hop's reply), or throws. */
  deliver(message: AcceptedMessage): Promise<string>;
  close(): Promise<void>;
}

export class DiscardSink implements Sink {
  readonly type = 'discard';

  async deliver(message: AcceptedMessage): Promise<string> {
    return `discarded ${message.raw.length} bytes`;
  }

  async close(): Promise<void> {}
}

export interface SinkDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly hostname: string;
  readonly maildirFs?: MaildirFs;
}

/** Builds and opens the configured sink; throws when it cannot be used (the server must not start). */
export async function createSink(config: SinkConfig, deps: SinkDeps): Promise<Sink> {
  switch (config.type) {
    case 'discard':
      return new DiscardSink();
    case 'maildir': {
      const sink = new MaildirSink({
        path: config.path,
        clock: deps.clock,
        logger: deps.logger,
        hostname: deps.hostname,
        ...(deps.maildirFs === undefined ? {} : { fs: deps.maildirFs }),
      });
      await sink.open();
      return sink;
    }
    case 'relay':
      return new RelaySink({ host: config.host, port: config.port, timeoutMs: config.timeoutMs, heloName: deps.hostname });
  }
}
