import { BadCountError, BadSeriesError } from './errors.ts';

/**
 * Argument checks for named series. The Lua layer passes script values through,
 * so each check names the argument and what was wrong with it.
 */
export type SeriesType = 'cidr' | 'cidr_ipv6' | 'string';
export type Replicate = 'none' | 'cluster' | 'manager';

export interface SeriesOptions {
  persist?: boolean;
  serialize?: boolean;
  replicate?: Replicate;
}

export const SERIES_TYPES: readonly SeriesType[] = ['cidr', 'cidr_ipv6', 'string'];
/** Names become journal and persistence file names later, hence the length and character rules. */
export const MAX_NAME_LENGTH = 255;
export const MAX_KEY_BYTES = 1024;
export const MAX_SERIES = 1024;
const OPTION_KEYS: ReadonlySet<string> = new Set(['persist', 'serialize', 'replicate']);
const REPLICATE: ReadonlySet<string> = new Set(['none', 'cluster', 'manager']);

export function checkName(name: unknown): string {
  if (typeof name !== 'string') throw new BadSeriesError(`a series name must be a string, got ${typeof name}`);
  if (name.length === 0) throw new BadSeriesError('a series name must not be empty');
  if (name.length > MAX_NAME_LENGTH) throw new BadSeriesError(`series name "${name.slice(0, 40)}…" is longer than ${MAX_NAME_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f/\\]/.test(name) || name === '.' || name === '..') {
    throw new BadSeriesError(`series name ${JSON.stringify(name)} contains a control character, "/" or "\\", or is "." or ".."`);
  }
  return name;
}

export function checkType(type: unknown): SeriesType {
  if (typeof type !== 'string' || !(SERIES_TYPES as readonly string[]).includes(type)) {
    throw new BadSeriesError(`series type must be one of ${SERIES_TYPES.join(', ')}, got ${JSON.stringify(String(type))}`);
  }
  return type as SeriesType;
}

export function checkOptions(options: unknown): Required<SeriesOptions> {
  const out: Required<SeriesOptions> = { persist: false, serialize: false, replicate: 'none' };
  if (options === undefined || options === null) return out;
  if (typeof options !== 'object' || Array.isArray(options)) throw new BadSeriesError(`series options must be a table, got ${typeof options}`);
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!OPTION_KEYS.has(key)) throw new BadSeriesError(`unknown series option "${key.slice(0, 40)}" (known: persist, serialize, replicate)`);
  }
  for (const key of ['persist', 'serialize'] as const) {
    const v = o[key];
    if (v === undefined) continue;
    if (typeof v !== 'boolean') throw new BadSeriesError(`series option "${key}" must be true or false, got ${typeof v}`);
    out[key] = v;
  }
  const r = o['replicate'];
  if (r !== undefined) {
    if (typeof r !== 'string' || !REPLICATE.has(r)) {
      throw new BadSeriesError(`series option "replicate" must be "none", "cluster" or "manager", got ${JSON.stringify(String(r))}`);
    }
    out.replicate = r as Replicate;
  }
  return out;
}

/** Signed count, truncated toward zero (spec §14 #8); NaN, infinities and unsafe magnitudes refused. */
export function checkCount(count: unknown): number {
  if (typeof count !== 'number') throw new BadCountError(`count must be a number, got ${typeof count}`);
  if (!Number.isFinite(count)) throw new BadCountError(`count must be a finite number, got ${count}`);
  const t = Math.trunc(count);
  if (Math.abs(t) > Number.MAX_SAFE_INTEGER) throw new BadCountError(`count ${count} is too large (at most ${Number.MAX_SAFE_INTEGER} either way)`);
  return t === 0 ? 0 : t;
}

export function checkStringKey(key: unknown, series: string): string {
  if (typeof key !== 'string') {
    throw new BadSeriesError(`series "${series}" is a string series: the key must be a string, got ${typeof key === 'object' ? 'an address' : typeof key}`);
  }
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    throw new BadSeriesError(`key for series "${series}" is longer than ${MAX_KEY_BYTES} bytes`);
  }
  return key;
}
