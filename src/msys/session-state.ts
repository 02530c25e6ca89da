import type { IpAddress } from '../audit/address.ts';

/**
 * What a callout can see and change of the session it runs for. PolicySession
 * owns it; the msys modules read the peer and envelope from it and write the
 * disposition (vctx:set_code, vctx:disconnect, vctx:tarpit) into it. One plain
 * object per connection, so the msys layer never reaches up into policy/.
 */
export interface SessionState {
  readonly id: string;
  readonly connId: string;
  peer: IpAddress;
  peerText: string;
  peerPort: number;
  readonly localText?: string | undefined;
  readonly localPort?: number | undefined;
  readonly listener?: string | undefined;
  readonly hostname: string;
  /** The client's host name (XCLIENT NAME), for the decision log. */
  readonly clientName?: string | undefined;
  ehlo?: string | undefined;
  readonly vctxConn: Map<string, string>;
  vctxMess: Map<string, string>;
  disposition: Disposition;
  message: MessageState | null;
}

/** The reply a phase asked for. Reset before every phase. */
export interface Disposition {
  code?: number;
  text?: string;
  disconnect: boolean;
  tarpitSeconds: number;
}

export function emptyDisposition(): Disposition {
  return { disconnect: false, tarpitSeconds: 0 };
}

/** One transaction: from MAIL FROM to the end of DATA (or RSET). */
export interface MessageState {
  readonly id: string;
  mailFrom: string;
  readonly recipients: string[];
  /** The recipient the current rcptto/each_rcpt callout is about. */
  currentRcpt?: string | undefined;
  /** The message as received: set once DATA has been received. */
  raw?: Buffer;
  /** Parsed from raw when a script first reads or edits the content. */
  body?: MessageBody;
  /** Set once validate_rcptto_list_final has run: vctx:add_recipient/remove_recipient then raise. */
  recipientsFinal?: boolean;
  /** msg:discard: the whole message ('all') or the recipients whose copies were discarded. */
  discarded?: 'all' | Set<string>;
}

/** Parsed message content; header edits by policy land here and are serialised on delivery. */
export interface MessageBody {
  readonly size: number;
  headers: HeaderField[];
  readonly bodyBytes: Buffer;
  /** The message as received; delivered as is unless policy edited a header. */
  readonly raw: Buffer;
  modified: boolean;
}

export interface HeaderField {
  readonly name: string;
  /** Unfolded value without the leading space. */
  readonly value: string;
  /** The exact original bytes (folding kept) when unchanged, for byte-exact delivery. */
  readonly raw?: string;
}
