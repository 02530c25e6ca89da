import { formatAddress, parseAddress, type IpAddress } from '../audit/address.ts';
import type { OutboxBatch } from '../audit/outbox.ts';
import { parseSeriesId, seriesId, type SeriesIdentity } from '../audit/remote-series.ts';

/**
 * The batch payload: one change per line, fields separated by one space.
 *   c <metric 0-2> <slot start> <address> <delta>     built-in metric
 *   g <address> <delta>                               open SMTP sessions
 *   s <series id> <window start> <key> <delta>        replicate="cluster" series
 *   m <series id> <window start> <key> <delta>        replicate="manager" series
 * and, only in a resync (absolute state, never read from the stream):
 *   C <metric> <monitor width> <window start> <address> <count>
 * Series ids are `<name, URI-encoded>|<type>|<W>,<N>`; series keys are
 * URI-encoded (string keys may hold spaces).
 */
export function encodeBatch(b: OutboxBatch): string {
  const lines: string[] = [];
  for (const [mi, ts, addr, n] of b.counters) lines.push(`c ${mi} ${ts} ${formatAddress(addr)} ${n}`);
  for (const [addr, n] of b.gauges) lines.push(`g ${formatAddress(addr)} ${n}`);
  for (const p of b.series) {
    const sid = seriesId(p.id);
    const t = p.manager ? 'm' : 's';
    for (const [start, keys] of p.windows) {
      for (const [key, n] of keys) if (n !== 0) lines.push(`${t} ${sid} ${start} ${encodeURIComponent(key)} ${n}`);
    }
  }
  return lines.join('\n');
}

export interface BatchHandler {
  counter(mi: number, ts: number, addr: IpAddress, delta: number): void;
  gauge(addr: IpAddress, delta: number): void;
  series(id: SeriesIdentity, manager: boolean, start: number, key: string, delta: number): void;
}

/** Applies every well-formed line; returns how many lines were malformed (skipped). */
export function decodeBatch(payload: string, h: BatchHandler): number {
  let bad = 0;
  for (const line of payload.split('\n')) {
    if (line.length === 0) continue;
    const f = line.split(' ');
    try {
      switch (f[0]) {
        case 'c': {
          const mi = Number(f[1]);
          const ts = Number(f[2]);
          const n = Number(f[4]);
          if (f.length !== 5 || !(mi >= 0 && mi <= 2) || !Number.isInteger(ts) || !Number.isInteger(n)) throw new Error('bad');
          h.counter(mi, ts, parseAddress(f[3]!), n);
          break;
        }
        case 'g': {
          const n = Number(f[2]);
          if (f.length !== 3 || !Number.isInteger(n)) throw new Error('bad');
          h.gauge(parseAddress(f[1]!), n);
          break;
        }
        case 's':
        case 'm': {
          const id = parseSeriesId(f[1] ?? '');
          const start = Number(f[2]);
          const n = Number(f[4]);
          if (f.length !== 5 || id === null || !Number.isInteger(start) || !Number.isInteger(n)) throw new Error('bad');
          h.series(id, f[0] === 'm', start, decodeURIComponent(f[3]!), n);
          break;
        }
        default:
          bad++;
      }
    } catch {
      bad++;
    }
  }
  return bad;
}
