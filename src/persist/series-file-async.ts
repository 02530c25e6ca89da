/**
 * Writing a series file without stalling sessions (issue 16): the snapshot
 * comes in slices (SeriesRegistry.snapshotSliced), the JSON payload is built
 * and hashed a few thousand entries at a time, and the file is written and
 * fsynced through the async fs API (libuv's thread pool), with a pause
 * between steps so sessions run in between. The result is byte-compatible
 * with what readSeriesFile reads (the same envelope: header line with length
 * and sha256, then the payload), and the write is as atomic as
 * writeFileAtomic's: temp file, fsync, rename, fsync of the directory.
 */
import { createHash } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { SeriesSnapshot } from '../audit/series-snapshot.ts';
import { tempPath } from './atomic-file.ts';
import { STATE_FORMAT, STATE_VERSION } from './envelope.ts';
import { SERIES_KIND } from './series-file.ts';

/** Entries encoded per step. */
const ENTRIES_PER_CHUNK = 4096;

export type Pause = () => Promise<void>;

export const nextTurn: Pause = () => new Promise((resolve) => setImmediate(resolve));

/** Runs a sliced computation to its end, pausing between its steps. */
export async function drive<T>(gen: Generator<void, T>, pause: Pause): Promise<T> {
  for (;;) {
    const r = gen.next();
    if (r.done === true) return r.value;
    await pause();
  }
}

/** The envelope of a series snapshot as chunks: header line first, payload, final newline. */
export async function encodeSeriesChunks(snap: SeriesSnapshot, pause: Pause): Promise<string[]> {
  const hash = createHash('sha256');
  let bytes = 0;
  const body: string[] = [];
  const put = (chunk: string): void => {
    hash.update(chunk);
    bytes += Buffer.byteLength(chunk, 'utf8');
    body.push(chunk);
  };
  const head = JSON.stringify({ name: snap.name, type: snap.type, interval: snap.interval, windows: snap.windows });
  put(`${head.slice(0, -1)},"buckets":[`);
  for (let b = 0; b < snap.buckets.length; b++) {
    const bucket = snap.buckets[b]!;
    put(`${b > 0 ? ',' : ''}{"start":${JSON.stringify(bucket.start)},"counts":[`);
    for (let i = 0; i < bucket.counts.length; i += ENTRIES_PER_CHUNK) {
      const part = JSON.stringify(bucket.counts.slice(i, i + ENTRIES_PER_CHUNK));
      put(`${i > 0 ? ',' : ''}${part.slice(1, -1)}`);
      await pause();
    }
    put(']}');
  }
  put(']}');
  const header = JSON.stringify({ format: STATE_FORMAT, version: STATE_VERSION, kind: SERIES_KIND, bytes, sha256: hash.digest('hex') });
  return [`${header}\n`, ...body, '\n'];
}

/**
 * Writes the chunks to a temp file beside `path`, fsyncs it and renames it
 * over `path` unless `stillWanted()` says otherwise by then (a newer save
 * happened meanwhile: the temp file is removed instead). Returns whether the
 * file was replaced.
 */
export async function writeChunksAtomic(path: string, chunks: readonly string[], stillWanted: () => boolean = () => true): Promise<boolean> {
  const dir = dirname(path);
  const tmp = tempPath(path);
  const fh = await open(tmp, 'w', 0o600);
  try {
    for (const c of chunks) await fh.write(c);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  if (!stillWanted()) {
    await rm(tmp, { force: true });
    return false;
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
  return true;
}
