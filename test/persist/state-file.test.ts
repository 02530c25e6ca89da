import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SeriesSnapshot } from '../../src/audit/series-snapshot.ts';
import { writeFileAtomic } from '../../src/persist/atomic-file.ts';
import { decodeState, encodeState, STATE_VERSION } from '../../src/persist/envelope.ts';
import { readSeriesFile, setAside, writeSeriesFile } from '../../src/persist/series-file.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mw-state-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const snap: SeriesSnapshot = {
  name: 'rcpt',
  type: 'cidr',
  interval: 60,
  windows: 5,
  buckets: [
    { start: 6000, counts: [['192.0.2.1', 3], ['192.0.2.9', -2]] },
    { start: 5940, counts: [['198.51.100.7', 1]] },
  ],
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('series state file', () => {
  it('round-trips a snapshot and leaves no temp file behind', () => {
    const path = join(dir, 'rcpt.series');
    writeSeriesFile(path, snap);
    expect(readSeriesFile(path)).toEqual(snap);
    expect(readdirSync(dir)).toEqual(['rcpt.series']);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('replaces an existing file whole', () => {
    const path = join(dir, 'rcpt.series');
    writeSeriesFile(path, snap);
    writeSeriesFile(path, { ...snap, buckets: [] });
    expect(readSeriesFile(path).buckets).toEqual([]);
  });

  it.each([
    ['zero length', (b: Buffer) => Buffer.alloc(0), 'MW_ERR_STATE_CORRUPT'],
    ['truncated in the payload', (b: Buffer) => b.subarray(0, b.length - 20), 'MW_ERR_STATE_CORRUPT'],
    ['truncated in the header', (b: Buffer) => b.subarray(0, 30), 'MW_ERR_STATE_CORRUPT'],
    ['a flipped byte in the payload', (b: Buffer) => flip(b, b.length - 10), 'MW_ERR_STATE_CORRUPT'],
    ['a flipped byte in the checksum', (b: Buffer) => flip(b, b.indexOf('sha256') + 12), 'MW_ERR_STATE_CORRUPT'],
    ['another version', (b: Buffer) => Buffer.from(b.toString().replace(`"version":${STATE_VERSION}`, '"version":99')), 'MW_ERR_STATE_VERSION'],
    ['not ours at all', () => Buffer.from('hello\nworld\n'), 'MW_ERR_STATE_CORRUPT'],
  ])('rejects %s with a coded error', (_what, damage, code) => {
    const path = join(dir, 'rcpt.series');
    writeSeriesFile(path, snap);
    writeFileSync(path, damage(readFileSync(path)));
    expect(codeOf(() => readSeriesFile(path))).toBe(code);
  });

  it('rejects a file whose checksum holds but whose content is not a snapshot', () => {
    const path = join(dir, 'x.series');
    writeFileAtomic(path, encodeState('audit-series', { name: 'x', type: 'cidr', interval: 60, windows: 5, buckets: [{ start: 61, counts: [] }] }));
    expect(codeOf(() => readSeriesFile(path))).toBe('MW_ERR_STATE_CORRUPT');
  });

  it('rejects a state file of another kind', () => {
    expect(codeOf(() => decodeState('audit-series', Buffer.from(encodeState('audit-monitors', {}))))).toBe('MW_ERR_STATE_CORRUPT');
  });

  it('sets a file aside under a new name and never overwrites an earlier one', () => {
    const path = join(dir, 'rcpt.series');
    writeFileSync(path, 'one');
    const a = setAside(path, 'corrupt', Date.UTC(2026, 0, 2, 3, 4, 5));
    writeFileSync(path, 'two');
    const b = setAside(path, 'corrupt', Date.UTC(2026, 0, 2, 3, 4, 5));
    expect(a).toBe(`${path}.corrupt-20260102T030405Z`);
    expect(b).toBe(`${path}.corrupt-20260102T030405Z-1`);
    expect(readFileSync(a, 'utf8')).toBe('one');
    expect(readFileSync(b, 'utf8')).toBe('two');
  });
});

function flip(b: Buffer, at: number): Buffer {
  const c = Buffer.from(b);
  c[at] = c[at]! ^ 0x01;
  return c;
}
