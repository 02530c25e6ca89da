/**
 * Rejections are values. A phase returns a Verdict; the SMTP front maps it to a
 * reply (src/smtp/reply.ts) and the fixture harness compares it with what a
 * fixture expects. Exceptions never cross this boundary.
 */
export type VerdictAction = 'continue' | 'reject' | 'tempfail' | 'disconnect';

export interface Verdict {
  readonly action: VerdictAction;
  /**
   * SMTP reply code. For `continue` it is only set when the policy chose a
   * custom 2xx/3xx reply; otherwise the front sends its normal success reply.
   */
  readonly code?: number;
  /** RFC 3463 enhanced status code, e.g. "5.7.1". */
  readonly enhanced?: string;
  readonly text?: string;
  /** Delay before the reply is written (vctx:tarpit), in milliseconds. 0 = none. */
  readonly tarpitMs: number;
  /** Set when the verdict came from the failure mode after a script fault. */
  readonly fault?: boolean;
}

export const CONTINUE: Verdict = Object.freeze({ action: 'continue', tarpitMs: 0 });

export function isRejection(v: Verdict): boolean {
  return v.action !== 'continue' || (v.code !== undefined && v.code >= 400);
}
