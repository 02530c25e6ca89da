import type { HeaderField, MessageBody } from './session-state.ts';

/**
 * Just enough RFC 5322 header handling for msg:header: split the header block
 * from the body, unfold fields for reading, and keep untouched fields
 * byte-exact so delivery does not rewrite what policy did not change.
 */

const MAX_HEADER_FIELDS = 1000;

export function parseMessage(raw: Buffer): MessageBody {
  const text = raw.toString('latin1');
  let end = text.indexOf('\r\n\r\n');
  let sepLen = 4;
  if (end === -1) {
    // A message that is all headers (or all body) still parses.
    end = text.endsWith('\r\n') ? text.length - 2 : text.length;
    sepLen = text.length - end;
  }
  const headerBlock = text.slice(0, end);
  const headers: HeaderField[] = [];
  let current: string | null = null;
  const flush = () => {
    if (current === null) return;
    const colon = current.indexOf(':');
    if (colon > 0 && headers.length < MAX_HEADER_FIELDS) {
      const name = current.slice(0, colon);
      const value = current.slice(colon + 1).replace(/\r\n(?=[ \t])/g, '').replace(/^[ \t]+/, '');
      headers.push({ name, value: latin1ToUtf8(value), raw: current });
    }
    current = null;
  };
  for (const line of headerBlock.split('\r\n')) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && current !== null) current += '\r\n' + line;
    else {
      flush();
      current = line;
    }
  }
  flush();
  const bodyStart = Math.min(raw.length, end + sepLen);
  return { size: raw.length, headers, bodyBytes: raw.subarray(bodyStart), raw, modified: false };
}

/** Header values are kept as JS strings; bytes were read as latin1 to be lossless. */
function latin1ToUtf8(s: string): string {
  return Buffer.from(s, 'latin1').toString('utf8');
}

export function serializeMessage(body: MessageBody): Buffer {
  if (!body.modified) return body.raw;
  const lines = body.headers.map((h) => (h.raw !== undefined ? Buffer.from(h.raw, 'latin1') : Buffer.from(`${h.name}: ${h.value}`, 'utf8')));
  const parts: Buffer[] = [];
  for (const l of lines) parts.push(l, CRLF);
  parts.push(CRLF, body.bodyBytes);
  return Buffer.concat(parts);
}

const CRLF = Buffer.from('\r\n');

export function headerValues(body: MessageBody, name: string): string[] {
  const lower = name.toLowerCase();
  return body.headers.filter((h) => h.name.toLowerCase() === lower).map((h) => h.value);
}

export type HeaderMode = 'replace' | 'prepend' | 'append';

/** Sets or removes (values = []) a header. Replace is the default (spec §17 #10). */
export function setHeader(body: MessageBody, name: string, values: string[], mode: HeaderMode): void {
  const lower = name.toLowerCase();
  body.modified = true;
  const fresh = values.map((value) => ({ name, value }));
  if (mode === 'replace') {
    body.headers = body.headers.filter((h) => h.name.toLowerCase() !== lower).concat(fresh);
  } else if (mode === 'prepend') {
    body.headers = fresh.concat(body.headers);
  } else {
    body.headers = body.headers.concat(fresh);
  }
}
