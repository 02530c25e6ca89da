import { closeSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

let sequence = 0;

/**
 * Replaces `path` so that a crash at any instant leaves either the old file or
 * the new one, complete: write a temp file beside it, fsync it, rename over
 * the target, fsync the directory so the rename itself is durable. Synchronous
 * on purpose: the caller serialised an in-memory snapshot, and a shutdown save
 * must finish before the process exits.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const dir = dirname(path);
  const tmp = tempPath(path);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(dir);
}

/** A fresh temp file name beside `path` (one isTempFile recognises). */
export function tempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${++sequence}`);
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** True for the temp files writeFileAtomic leaves behind when killed mid-write. */
export function isTempFile(name: string): boolean {
  return name.startsWith('.') && /\.tmp-\d+-\d+$/.test(name);
}

/** Removes the temp files of writes killed mid-way (their targets are intact); returns their paths. */
export function removeTempFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const n of names) {
    if (!isTempFile(n)) continue;
    rmSync(join(dir, n), { force: true });
    removed.push(join(dir, n));
  }
  return removed;
}
