/**
 * Connection caps, total and per peer address, counted from TCP accept to
 * socket close. A session held in a tarpit still holds its slot: that is the
 * point of a tarpit, and it must not let one sender open unlimited sessions.
 */
export type CapDecision = 'ok' | 'total' | 'per-ip';

export class ConnectionCaps {
  private open = 0;
  private readonly perIp = new Map<string, number>();

  constructor(
    private maxTotal: number,
    private maxPerIp: number,
  ) {}

  /** New caps (a re-read config): slots already taken stay taken. */
  setLimits(maxTotal: number, maxPerIp: number): void {
    this.maxTotal = maxTotal;
    this.maxPerIp = maxPerIp;
  }

  /** Takes a slot for `ip`, or says which cap refused it (nothing is taken then). */
  tryAcquire(ip: string): CapDecision {
    if (this.open >= this.maxTotal) return 'total';
    const n = this.perIp.get(ip) ?? 0;
    if (n >= this.maxPerIp) return 'per-ip';
    this.open += 1;
    this.perIp.set(ip, n + 1);
    return 'ok';
  }

  release(ip: string): void {
    const n = this.perIp.get(ip);
    if (n === undefined) return;
    this.open -= 1;
    if (n <= 1) this.perIp.delete(ip);
    else this.perIp.set(ip, n - 1);
  }

  get total(): number {
    return this.open;
  }

  countFor(ip: string): number {
    return this.perIp.get(ip) ?? 0;
  }
}
