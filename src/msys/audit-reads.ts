/**
 * What a script read from the audit store during one phase, kept so that a
 * rejection can be explained ("msys.audit.connections 60,10 192.0.2.7/32
 * windows 0..9 = 31"). Recording costs four array stores into slots reused
 * from phase to phase: nothing is allocated unless a decision is logged and
 * asks for the entries. Past the capacity, reads are counted, not kept.
 */
import { formatCidr, type Cidr } from '../audit/address.ts';

export interface AuditRead {
  /** "msys.audit.connections", "msys.audit_series.count", … */
  readonly fn: string;
  /** Monitor spec ("60,10"), series name, or service name for the session gauge. */
  readonly monitor: string;
  /** The block (CIDR) or string key read. */
  readonly block: string;
  /** "startv..endv" of the windows summed; absent for gauges. */
  readonly windows?: string;
  readonly value: number;
}

const CAPACITY = 32;

export class AuditReadLog {
  private n = 0;
  private dropped = 0;
  private readonly fns: string[] = new Array<string>(CAPACITY);
  private readonly monitors: string[] = new Array<string>(CAPACITY);
  private readonly blocks: (Cidr | string)[] = new Array<Cidr | string>(CAPACITY);
  /** startv, endv, value per read; startv -1 marks a gauge (no windows). */
  private readonly nums = new Float64Array(CAPACITY * 3);

  reset(): void {
    this.n = 0;
    this.dropped = 0;
  }

  record(fn: string, monitor: string, block: Cidr | string, startv: number, endv: number, value: number): void {
    const i = this.n;
    if (i >= CAPACITY) {
      this.dropped++;
      return;
    }
    this.fns[i] = fn;
    this.monitors[i] = monitor;
    this.blocks[i] = block;
    this.nums[i * 3] = startv;
    this.nums[i * 3 + 1] = endv;
    this.nums[i * 3 + 2] = value;
    this.n = i + 1;
  }

  /** Reads past the capacity that were counted but not kept. */
  get overflow(): number {
    return this.dropped;
  }

  /** The reads of the phase, oldest first (allocates: call only when logging a decision). */
  entries(): AuditRead[] {
    const out: AuditRead[] = [];
    for (let i = 0; i < this.n; i++) {
      const b = this.blocks[i]!;
      const startv = this.nums[i * 3]!;
      out.push({
        fn: this.fns[i]!,
        monitor: this.monitors[i]!,
        block: typeof b === 'string' ? b : formatCidr(b),
        ...(startv < 0 ? {} : { windows: `${startv}..${this.nums[i * 3 + 1]!}` }),
        value: this.nums[i * 3 + 2]!,
      });
    }
    return out;
  }
}
