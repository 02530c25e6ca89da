/**
 * Relay delivery: the message is handed to a next-hop SMTP server and counts
 * as accepted only once that server answered 250 to the end of DATA. Its
 * refusals come back as RelayRejectedError so the front can pass the next
 * hop's own code and text to our client.
 */
import type { AcceptedMessage } from '../policy/session-api.ts';
import { relayMessage } from './relay-client.ts';
import type { Sink } from './sink.ts';

export interface RelaySinkOptions {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  /** Our EHLO name towards the next hop. */
  readonly heloName: string;
}

export class RelaySink implements Sink {
  readonly type = 'relay';

  constructor(private readonly opts: RelaySinkOptions) {}

  deliver(message: AcceptedMessage): Promise<string> {
    return relayMessage({
      host: this.opts.host,
      port: this.opts.port,
      timeoutMs: this.opts.timeoutMs,
      heloName: this.opts.heloName,
      mailFrom: message.mailFrom,
      recipients: message.recipients,
      raw: message.raw,
    });
  }

  async close(): Promise<void> {
    // Connections are per message; nothing is pooled.
  }
}
