/**
 * The Received trace header an MTA adds to every message it accepts (RFC 5321
 * §4.4), so stored and relayed copies say where they came from and relays can
 * detect loops. Every value in it comes from the client, so it is reduced to
 * characters that cannot break the header.
 */
export interface ReceivedInfo {
  readonly helo: string;
  /** IP literal of the client (after XCLIENT, the address it stands for). */
  readonly address: string;
  readonly hostname: string;
  readonly protocol: string;
  readonly id: string;
  readonly recipients: readonly string[];
  readonly nowMs: number;
}

export function receivedHeader(info: ReceivedInfo): string {
  const ip = info.address.includes(':') ? `IPv6:${info.address}` : info.address;
  const forClause = info.recipients.length === 1 ? `\r\n\tfor <${clean(info.recipients[0]!)}>` : '';
  return (
    `Received: from ${clean(info.helo) || 'unknown'} ([${ip}])\r\n` +
    `\tby ${clean(info.hostname)} (moonwatch) with ${clean(info.protocol)} id ${clean(info.id)}${forClause};\r\n` +
    `\t${rfc5322Date(info.nowMs)}\r\n`
  );
}

let lastSecond = Number.NaN;
let lastDate = '';

/** "Mon, 22 Nov 2026 06:17:00 +0000" */
export function rfc5322Date(ms: number): string {
  // Formatting a Date costs a few µs per message; the text changes once a second.
  const second = Math.floor(ms / 1000);
  if (second !== lastSecond) {
    // toUTCString always ends in "GMT".
    lastDate = `${new Date(second * 1000).toUTCString().slice(0, -3)}+0000`;
    lastSecond = second;
  }
  return lastDate;
}

const UNSAFE = /[^\x21-\x7e]|[()<>;\\]/;

function clean(s: string): string {
  // Nearly every value is clean already: test once before rewriting.
  if (s.length <= 255 && !UNSAFE.test(s)) return s;
  return s.replace(/[^\x21-\x7e]/g, '').replace(/[()<>;\\]/g, '').slice(0, 255);
}

/** The header as bytes, to go in front of the message. */
export function receivedHeaderBytes(info: ReceivedInfo): Buffer {
  return Buffer.from(receivedHeader(info), 'latin1');
}
