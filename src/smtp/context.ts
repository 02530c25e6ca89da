/**
 * What every connection of a listener shares: the engine and sink it drives,
 * the limits it enforces and the listener's own state (shutdown, identity).
 */
import type { Clock } from '../clock.ts';
import type { LimitsConfig } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { PolicyEngine } from '../policy/session-api.ts';
import type { DialogueReplies } from './dialogue.ts';
import type { ReplyBatch } from './reply-batch.ts';
import type { Sink } from './sink.ts';
import type { TrustMatcher } from './trust.ts';

export interface ConnectionContext {
  readonly engine: PolicyEngine;
  readonly sink: Sink;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly monotonicMs: () => number;
  readonly hostname: string;
  /** The replies moonwatch gives itself (greeting, timeouts, order errors …), from dialogue.ts. */
  readonly replies: DialogueReplies;
  readonly limits: LimitsConfig;
  readonly trusted: TrustMatcher;
  /** "127.0.0.1:2525" once bound; scopes listener gauges. */
  readonly listenerId: () => string;
  readonly isShuttingDown: () => boolean;
  /** Holds each reply until the end of the event-loop turn (reply-batch.ts). */
  readonly replyBatch: ReplyBatch;
}
