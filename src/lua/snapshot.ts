import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { MoonwatchError } from '../errors.ts';
import type { SourceReader } from './sources.ts';

/** Bounds on what a scripts directory may hold: a runaway directory must not exhaust memory. */
const MAX_FILES = 2000;
const MAX_FILE_BYTES = 4 * 1024 * 1024;

export class SnapshotError extends MoonwatchError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MW_ERR_SCRIPTS_SNAPSHOT', message, options);
  }
}

/** Every .lua file of a scripts directory, read at one moment, with a content hash. */
export interface ScriptSnapshot {
  readonly files: ReadonlyMap<string, string>;
  readonly hash: string;
  readonly reader: SourceReader;
}

/**
 * Reads the scripts directory twice, a moment apart, until both reads agree.
 * An editor that truncates and rewrites a file in several writes is caught
 * mid-save by the first read and the snapshot is retried, so a generation is
 * never built from half a file.
 */
export async function readSnapshot(dir: string, opts: { settleMs?: number; attempts?: number } = {}): Promise<ScriptSnapshot> {
  const settleMs = opts.settleMs ?? 25;
  const attempts = opts.attempts ?? 8;
  let previous = await readOnce(dir);
  for (let i = 0; i < attempts; i++) {
    await new Promise((r) => setTimeout(r, settleMs));
    const current = await readOnce(dir);
    if (current.hash === previous.hash) return current;
    previous = current;
  }
  throw new SnapshotError(`scripts in ${dir} kept changing while being read; not rebuilding from a partial write`);
}

/** A snapshot from in-memory sources (the fixture harness, tests). */
export function snapshotOf(files: ReadonlyMap<string, string>): ScriptSnapshot {
  const hash = hashFiles(files);
  return { files, hash, reader: (rel) => files.get(rel) };
}

async function readOnce(dir: string): Promise<ScriptSnapshot> {
  const files = new Map<string, string>();
  await walk(dir, dir, files);
  return snapshotOf(files);
}

async function walk(root: string, dir: string, files: Map<string, string>): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new SnapshotError(`cannot read scripts directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.name.startsWith('.')) continue; // editor swap and temp files
    const full = join(dir, e.name);
    if (e.isDirectory()) await walk(root, full, files);
    else if (e.isFile() && (e.name.endsWith('.lua') || e.name.endsWith('.siv'))) {
      if (files.size >= MAX_FILES) throw new SnapshotError(`more than ${MAX_FILES} script files under ${root}`);
      let text: string;
      try {
        const buf = await readFile(full);
        if (buf.length > MAX_FILE_BYTES) throw new SnapshotError(`${full} is larger than ${MAX_FILE_BYTES} bytes`);
        text = buf.toString('utf8');
      } catch (err) {
        // Deleted between readdir and read: the next read will not list it.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      files.set(relative(root, full).split(sep).join('/'), text);
    }
  }
}

function hashFiles(files: ReadonlyMap<string, string>): string {
  const h = createHash('sha256');
  for (const [name, text] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    h.update(name).update('\0').update(text).update('\0');
  }
  return h.digest('hex');
}
