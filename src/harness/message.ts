/**
 * The message a fixture's `data` command sends: its headers and body, or a
 * plausible default set dated by the virtual clock, so the same fixture always
 * produces the same bytes.
 */
import type { MessageSpec } from './fixture.ts';

export interface MessageContext {
  readonly mailFrom: string;
  readonly recipients: readonly string[];
  readonly nowMs: number;
  readonly messageId: string;
}

/** A message with the fixture's own headers is the same every time; bulk traffic sends it thousands of times. */
const fixed = new WeakMap<MessageSpec, Buffer>();

export function buildMessage(spec: MessageSpec, ctx: MessageContext): Buffer {
  if (spec.headers.length > 0) {
    let raw = fixed.get(spec);
    if (raw === undefined) {
      raw = assemble(spec.headers, spec);
      fixed.set(spec, raw);
    }
    return raw;
  }
  return assemble([
    ['From', `<${ctx.mailFrom}>`],
    ['To', ctx.recipients.map((r) => `<${r}>`).join(', ')],
    ['Subject', 'Fixture message'],
    ['Date', rfc5322Date(ctx.nowMs)],
    ['Message-ID', `<${ctx.messageId}>`],
  ], spec);
}

function assemble(headers: readonly (readonly [string, string])[], spec: MessageSpec): Buffer {
  const head = headers.map(([name, value]) => `${name}: ${value}\r\n`).join('');
  let body = spec.body.replace(/\r?\n/g, '\r\n');
  if (!body.endsWith('\r\n')) body += '\r\n';
  let raw = `${head}\r\n${body}`;
  if (spec.size !== undefined && Buffer.byteLength(raw) < spec.size) raw += padding(spec.size - Buffer.byteLength(raw));
  return Buffer.from(raw, 'utf8');
}

/** Filler lines of 76 characters + CRLF; at least `bytes` long (one byte over when only one is missing). */
function padding(bytes: number): string {
  const line = `${'x'.repeat(76)}\r\n`;
  const full = Math.floor(bytes / line.length);
  const rest = bytes - full * line.length;
  return line.repeat(full) + (rest === 0 ? '' : `${'x'.repeat(Math.max(rest - 2, 1))}\r\n`);
}

function rfc5322Date(ms: number): string {
  return new Date(ms).toUTCString().replace('GMT', '+0000');
}
