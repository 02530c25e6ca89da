import { MoonwatchError } from '../errors.ts';

/** An SMTP reply as a next hop sent it, passed back to our client unchanged in meaning. */
export interface RemoteReply {
  readonly code: number;
  readonly enhanced: string;
  readonly text: string;
}

/** The maildir could not store the message; the client gets a 4xx and nothing is left in new/. */
export class MaildirWriteError extends MoonwatchError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MW_ERR_MAILDIR_WRITE', message, options);
  }
}

/** The next hop answered 4xx/5xx; `reply` is what it said. */
export class RelayRejectedError extends MoonwatchError {
  readonly reply: RemoteReply;
  /** The command the next hop refused: "MAIL", "RCPT", "DATA" … */
  readonly stage: string;

  constructor(stage: string, reply: RemoteReply) {
    super('MW_ERR_RELAY_REJECTED', `next hop refused ${stage}: ${reply.code} ${reply.enhanced} ${reply.text}`.replace(/\s+/g, ' '));
    this.reply = reply;
    this.stage = stage;
  }

  // The shape the policy session reads to pass a next hop's status back as the verdict.
  get smtpCode(): number {
    return this.reply.code;
  }

  get enhanced(): string | undefined {
    return this.reply.enhanced === '' ? undefined : this.reply.enhanced;
  }

  get smtpText(): string {
    return this.reply.text;
  }
}

/** The next hop could not be reached, timed out or broke the protocol. */
export class RelayUnavailableError extends MoonwatchError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MW_ERR_RELAY_UNAVAILABLE', message, options);
  }
}

/** A listen address could not be bound (in use, not local, no permission). */
export class ListenError extends MoonwatchError {
  readonly address: string;

  constructor(address: string, message: string, options?: { cause?: unknown }) {
    super('MW_ERR_LISTEN', `cannot listen on ${address}: ${message}`, options);
    this.address = address;
  }
}
