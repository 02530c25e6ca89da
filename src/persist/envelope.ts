import { createHash } from 'node:crypto';
import { CorruptStateError, StateVersionError } from './errors.ts';

/**
 * The on-disk frame of every state file: a JSON header line naming the
 * format, its version, the payload's length in bytes and its sha256, then the
 * payload (JSON) itself. Hashing the exact payload bytes, not a re-serialised
 * value, means any flipped byte or truncation is caught before parsing.
 */
export const STATE_FORMAT = 'moonwatch-state';
export const STATE_VERSION = 1;

interface Header {
  format: string;
  version: number;
  kind: string;
  bytes: number;
  sha256: string;
}

export function encodeState(kind: string, payload: unknown): string {
  const body = JSON.stringify(payload);
  const header: Header = {
    format: STATE_FORMAT,
    version: STATE_VERSION,
    kind,
    bytes: Buffer.byteLength(body, 'utf8'),
    sha256: sha256(body),
  };
  return `${JSON.stringify(header)}\n${body}\n`;
}

/** The payload of a state file of this kind; CorruptStateError or StateVersionError otherwise. */
export function decodeState(kind: string, text: Buffer): unknown {
  if (text.length === 0) throw new CorruptStateError('file is empty');
  const nl = text.indexOf(0x0a);
  if (nl < 0) throw new CorruptStateError('file has no header line (truncated?)');
  let header: Partial<Header>;
  try {
    header = JSON.parse(text.subarray(0, nl).toString('utf8')) as Partial<Header>;
  } catch (err) {
    throw new CorruptStateError('header line is not JSON', { cause: err });
  }
  if (header === null || typeof header !== 'object' || header.format !== STATE_FORMAT) {
    throw new CorruptStateError(`not a ${STATE_FORMAT} file`);
  }
  if (header.version !== STATE_VERSION) {
    throw new StateVersionError(`format version ${String(header.version)}, this build reads version ${STATE_VERSION}`);
  }
  if (header.kind !== kind) throw new CorruptStateError(`holds a ${String(header.kind)}, expected a ${kind}`);
  const body = text.subarray(nl + 1);
  const end = body.length > 0 && body[body.length - 1] === 0x0a ? body.length - 1 : body.length;
  const payload = body.subarray(0, end);
  if (payload.length !== header.bytes) {
    throw new CorruptStateError(`payload is ${payload.length} bytes, header says ${String(header.bytes)} (truncated?)`);
  }
  if (sha256(payload) !== header.sha256) throw new CorruptStateError('payload checksum does not match (file altered or damaged)');
  try {
    return JSON.parse(payload.toString('utf8')) as unknown;
  } catch (err) {
    throw new CorruptStateError('payload is not JSON', { cause: err });
  }
}

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
