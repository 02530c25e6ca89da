/**
 * Reads the DATA stream the SMTP library hands over, enforcing the limits while
 * the bytes arrive rather than after: nothing past the size limit is kept in
 * memory, and the first violation stops buffering (the rest is read and
 * dropped, so the client stays in sync and gets one clear reply at the end).
 *
 * Bare CR and bare LF are refused outright. The library only ends DATA at
 * <CR><LF>.<CR><LF>, but a message that carries <LF>.<CR><LF> or <CR>.<CR>
 * would end early at a next hop that is laxer, and whatever follows would be
 * read there as commands (SMTP smuggling). Refusing such messages here means
 * they are neither stored nor relayed.
 */
import type { Readable } from 'node:stream';

export type ViolationKind = 'size' | 'line-length' | 'bare-lf' | 'bare-cr';

export type ReadResult =
  | { readonly ok: true; readonly raw: Buffer }
  | { readonly ok: false; readonly violation: ViolationKind; readonly bytes: number }
  | { readonly ok: false; readonly violation: 'aborted'; readonly bytes: number };

export interface ReadLimits {
  readonly maxBytes: number;
  /** Longest line including its CRLF. */
  readonly maxLineLength: number;
}

const CR = 0x0d;
const LF = 0x0a;

/** Incremental checker; feed chunks in order, then call end(). */
export class MessageScanner {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  private lineLen = 0;
  private lastByte = -1;
  private violation: ViolationKind | undefined;

  constructor(private readonly limits: ReadLimits) {}

  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.violation !== undefined) return;
    if (this.bytes > this.limits.maxBytes) return this.stop('size');
    // A CR that ended the previous chunk must be followed by LF now.
    if (this.lastByte === CR && chunk.length > 0 && chunk[0] !== LF) return this.stop('bare-cr');
    let lineStart = 0;
    let lf = chunk.indexOf(LF);
    while (lf !== -1) {
      const prev = lf > 0 ? chunk[lf - 1] : this.lastByte;
      if (prev !== CR) return this.stop('bare-lf');
      if (this.lineLen + (lf + 1 - lineStart) > this.limits.maxLineLength) return this.stop('line-length');
      this.lineLen = 0;
      lineStart = lf + 1;
      lf = chunk.indexOf(LF, lineStart);
    }
    this.lineLen += chunk.length - lineStart;
    // The unfinished line may still get its CRLF, which counts too; anything
    // beyond that is already too long.
    if (this.lineLen > this.limits.maxLineLength) return this.stop('line-length');
    let cr = chunk.indexOf(CR);
    while (cr !== -1) {
      if (cr + 1 < chunk.length && chunk[cr + 1] !== LF) return this.stop('bare-cr');
      cr = chunk.indexOf(CR, cr + 1);
    }
    if (chunk.length > 0) this.lastByte = chunk[chunk.length - 1]!;
    this.chunks.push(chunk);
  }

  /** `prefix` (a trace header), asked for only when the message is good, goes in front of it in the same copy. */
  end(prefix?: () => Buffer): ReadResult {
    if (this.violation === undefined && this.lastByte === CR) this.violation = 'bare-cr';
    if (this.violation !== undefined) return { ok: false, violation: this.violation, bytes: this.bytes };
    if (prefix === undefined) return { ok: true, raw: Buffer.concat(this.chunks, this.bytes) };
    const head = prefix();
    this.chunks.unshift(head);
    return { ok: true, raw: Buffer.concat(this.chunks, head.length + this.bytes) };
  }

  private stop(kind: ViolationKind): void {
    this.violation = kind;
    this.chunks.length = 0;
  }
}

/** Told how many bytes each chunk brought (the minimum data rate's clock). */
export interface DataProgress {
  onDataBytes(bytes: number): void;
}

const ABORTED: ReadResult = Object.freeze({ ok: false, violation: 'aborted', bytes: 0 });

/**
 * Consumes the whole stream; resolves `aborted` when it breaks off (the client
 * went away). `prefix` is called once the message is complete and good.
 */
export function readMessage(stream: Readable, limits: ReadLimits, prefix?: () => Buffer, progress?: DataProgress): Promise<ReadResult> {
  return new Promise((resolve) => {
    const scanner = new MessageScanner(limits);
    let done = false;
    // Plain listeners and a flag rather than once(): the stream is dropped after
    // DATA anyway, and this runs for every message. (No named closures either:
    // under tsx every one costs a defineProperty each time it is created.)
    stream.on('data', (chunk: Buffer) => {
      scanner.push(chunk);
      progress?.onDataBytes(chunk.length);
    });
    stream.on('end', () => {
      if (done) return;
      done = true;
      resolve(scanner.end(prefix));
    });
    stream.on('error', () => {
      if (done) return;
      done = true;
      resolve(ABORTED);
    });
    stream.on('close', () => {
      if (done) return;
      done = true;
      resolve(ABORTED);
    });
  });
}
