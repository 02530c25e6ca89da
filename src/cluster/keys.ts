/**
 * The Redis key schema (docs/cluster.md). Every key one script touches shares
 * a hash tag, so each script runs in one slot on Redis Cluster:
 *   {<p>}:members                zset  incarnation → last heartbeat (Redis ms)
 *   {<p>}:nodes                  hash  incarnation → JSON info (name, role, monitors)
 *   {<p>:<inc>}:seq              string  last batch sequence applied
 *   {<p>:<inc>}:s                stream  batches, entry id "<seq>-1"
 *   {<p>:<inc>}:g                hash  address → open SMTP sessions (absolute)
 *   {<p>:<inc>}:k                set   every counter/series hash key of the incarnation
 *   {<p>:<inc>}:c:<m>:<W>:<t>    hash  address → count of metric m, monitor width W, window starting t
 *   {<p>:<inc>}:q:<sid>:<t>      hash  key → count of a replicate="cluster" series window
 * The per-incarnation tag spreads nodes over the masters; the two membership
 * keys share the {<p>} tag.
 */
export const NODE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
export const PREFIX = /^[A-Za-z0-9_.-]{1,32}$/;

export function incarnationId(name: string, bootMs: number): string {
  return `${name}#${bootMs}`;
}

export function nodeNameOf(incarnation: string): string {
  const i = incarnation.lastIndexOf('#');
  return i < 0 ? incarnation : incarnation.slice(0, i);
}

export interface MembershipKeys {
  readonly members: string;
  readonly nodes: string;
}

export function membershipKeys(prefix: string): MembershipKeys {
  return { members: `{${prefix}}:members`, nodes: `{${prefix}}:nodes` };
}

export interface IncarnationKeys {
  /** Prefix of every key of the incarnation, hash tag included: "{mw:a#1}". */
  readonly tag: string;
  readonly seq: string;
  readonly stream: string;
  readonly gauges: string;
  readonly keys: string;
}

export function incarnationKeys(prefix: string, incarnation: string): IncarnationKeys {
  const tag = `{${prefix}:${incarnation}}`;
  return { tag, seq: `${tag}:seq`, stream: `${tag}:s`, gauges: `${tag}:g`, keys: `${tag}:k` };
}

export function counterKey(tag: string, metric: number, width: number, start: number): string {
  return `${tag}:c:${metric}:${width}:${start}`;
}

export function seriesKey(tag: string, sid: string, start: number): string {
  return `${tag}:q:${sid}:${start}`;
}

/** Parses the part of a hash key after the tag: "c:<m>:<W>:<t>" or "q:<sid>:<t>". */
export function parseDataKey(rest: string): { kind: 'c'; metric: number; width: number; start: number } | { kind: 'q'; sid: string; start: number } | null {
  let m = /^:c:(\d):(\d+):(\d+)$/.exec(rest);
  if (m !== null) return { kind: 'c', metric: Number(m[1]), width: Number(m[2]), start: Number(m[3]) };
  m = /^:q:(.+):(\d+)$/.exec(rest);
  if (m !== null) return { kind: 'q', sid: m[1]!, start: Number(m[2]) };
  return null;
}
