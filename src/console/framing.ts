/**
 * The control protocol: the client sends one command per line; the server
 * answers with any number of lines and then a line holding a single ".".
 * An answer line that starts with "." gets one more "." in front (SMTP's dot
 * stuffing), so series names or keys can never end an answer early.
 */
export const END = '.';
export const MAX_COMMAND_BYTES = 64 * 1024;

export function frameAnswer(lines: readonly string[]): string {
  let out = '';
  for (const l of lines) out += `${l.startsWith('.') ? `.${l}` : l}\n`;
  return `${out}${END}\n`;
}

/** Splits a byte stream into lines (LF or CRLF), refusing any line longer than `max` bytes. */
export class LineSplitter {
  private buf = '';
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  /** Complete lines in `chunk`; null when the pending line grew past the limit. */
  push(chunk: string): string[] | null {
    this.buf += chunk;
    const lines = this.buf.split('\n');
    this.buf = lines.pop()!;
    if (Buffer.byteLength(this.buf, 'utf8') > this.max) return null;
    for (const l of lines) if (Buffer.byteLength(l, 'utf8') > this.max) return null;
    return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  }
}
