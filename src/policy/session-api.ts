import type { Verdict } from './verdict.ts';
import type { Eventually } from '../eventually.ts';

/**
 * The contract every front (SMTP listener, fixture harness, later Postfix
 * policy) drives. A front translates its protocol into these calls and turns
 * the returned Verdicts back into its protocol; it never records audit events
 * itself — the session does, so no front can forget them.
 */

export interface Endpoint {
  /** Textual IP address as the socket reported it (IPv4, IPv6, or IPv4-mapped IPv6). */
  readonly address: string;
  readonly port: number;
}

export interface SessionOptions {
  readonly remote: Endpoint;
  readonly local?: Endpoint;
  /** Listener identity ("127.0.0.1:2525") for listener-scoped gauges. */
  readonly listener?: string;
  /** The hostname used in replies (`421 <host> ...`). */
  readonly hostname?: string;
  /** The client's host name as the front knows it (XCLIENT NAME); absent: "unknown", as Postfix logs it. */
  readonly clientName?: string;
}

/** The message as received after DATA, before policy. */
export interface MessageInput {
  /** Raw RFC 5322 message (headers + body), CRLF line endings, dot-unstuffed. */
  readonly raw: Buffer;
}

/** What the session hands to the sink once policy has accepted a message. */
export interface AcceptedMessage {
  readonly sessionId: string;
  readonly mailFrom: string;
  readonly recipients: readonly string[];
  /** Final message bytes, including header changes made by policy. */
  readonly raw: Buffer;
}

/** Stores or relays an accepted message; resolves only once it is safe to acknowledge. */
export type Deliver = (message: AcceptedMessage) => Promise<void>;

export type CloseReason = 'quit' | 'disconnect' | 'timeout' | 'reset' | 'error' | 'shutdown' | 'xclient';

export interface PolicySession {
  readonly id: string;
  /** The script generation this session is pinned to. */
  readonly generation: number;
  /**
   * Runs the accept and connect phases (the connection was already counted).
   * These four give the verdict at once unless a script waited (DNS, sleep):
   * a front awaits them, or takes a plain value on without a promise.
   */
  connect(): Eventually<Verdict>;
  ehlo(name: string): Eventually<Verdict>;
  mailFrom(address: string): Eventually<Verdict>;
  rcptTo(address: string): Eventually<Verdict>;
  /**
   * Runs data, data_spool and each_rcpt. On a continue verdict the message is
   * passed to `deliver`; only when that resolves is the reception counted and a
   * continue returned. A failing `deliver` yields a tempfail verdict.
   */
  data(message: MessageInput, deliver: Deliver): Promise<Verdict>;
  /** RSET (or a new MAIL after a completed transaction): clears the message context. */
  reset(): void;
  /**
   * Records a 4xx/5xx the front produced itself (syntax error, size limit,
   * too many errors), so the rejections metric sees protocol rejections too.
   */
  protocolRejection(code: number): void;
  /** Runs dealloc and closes the gauge. Idempotent: only the first call counts. */
  close(reason: CloseReason): void;
}

export interface PolicyEngine {
  /** Counts the connection and opens the SMTP gauge at once (accept time). */
  openSession(opts: SessionOptions): PolicySession;
}
