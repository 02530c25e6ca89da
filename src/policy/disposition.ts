import type { Disposition } from '../msys/session-state.ts';
import { CONTINUE, type Verdict } from './verdict.ts';

const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?:\s+|$)/;

/**
 * Turns what a phase's scripts recorded (vctx:set_code, vctx:disconnect,
 * vctx.disconnect = 1, vctx:tarpit) into the phase's Verdict (spec §2.3: the
 * reply comes from the disposition, not from the return value).
 */
export function verdictFromDisposition(d: Disposition, hostname: string): Verdict {
  const tarpitMs = Math.round(d.tarpitSeconds * 1000);
  if (d.code === undefined && !d.disconnect) return tarpitMs === 0 ? CONTINUE : { action: 'continue', tarpitMs };
  const code = d.code ?? 421;
  const { enhanced, text } = splitEnhanced(d.text ?? '');
  const reply = {
    code,
    ...(enhanced === undefined ? {} : { enhanced }),
    text: text === '' ? defaultText(code, hostname, d.disconnect) : text,
    tarpitMs,
  };
  if (d.disconnect) return { action: 'disconnect', ...reply };
  if (code >= 500) return { action: 'reject', ...reply };
  if (code >= 400) return { action: 'tempfail', ...reply };
  return { action: 'continue', ...reply };
}

/** "5.7.1 Sender refused" → enhanced "5.7.1", text "Sender refused". */
export function splitEnhanced(text: string): { enhanced?: string; text: string } {
  const m = ENHANCED.exec(text);
  if (!m) return { text };
  return { enhanced: `${m[1]}.${m[2]}.${m[3]}`, text: text.slice(m[0].length) };
}

function defaultText(code: number, hostname: string, disconnect: boolean): string {
  if (disconnect) return `${hostname} closing connection`;
  if (code >= 500) return 'Rejected by policy';
  if (code >= 400) return 'Temporarily rejected by policy, try again later';
  return 'OK';
}
