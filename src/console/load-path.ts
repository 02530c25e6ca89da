import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, sep } from 'node:path';
import { LoadPathError } from '../persist/errors.ts';

/**
 * The file console `load` may read: a relative name inside serialize_dir
 * (spec §11.3). Absolute names and ".." are refused outright; symlinks are
 * resolved and the target must still lie inside the directory, so a link
 * planted in serialize_dir cannot expose another file.
 */
export function resolveLoadPath(serializeDir: string, name: string): string {
  if (name.length === 0) throw new LoadPathError('file name is empty');
  if (name.includes('\0')) throw new LoadPathError('file name contains a NUL byte');
  if (isAbsolute(name) || name.startsWith('\\')) throw new LoadPathError(`"${name}" is absolute: give a name relative to serialize_dir`);
  if (name.split(/[/\\]/).includes('..')) throw new LoadPathError(`"${name}" contains "..": only files inside serialize_dir can be loaded`);
  let dir: string;
  let real: string;
  try {
    dir = realpathSync(serializeDir);
  } catch (err) {
    throw new LoadPathError(`serialize_dir ${serializeDir} is not accessible: ${(err as Error).message}`);
  }
  try {
    real = realpathSync(join(dir, name));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new LoadPathError(code === 'ENOENT' ? `no file "${name}" in serialize_dir` : `cannot open "${name}": ${(err as Error).message}`);
  }
  if (!real.startsWith(dir + sep)) throw new LoadPathError(`"${name}" resolves outside serialize_dir`);
  if (!statSync(real).isFile()) throw new LoadPathError(`"${name}" is not a regular file`);
  return real;
}
