import { formatAddress, type IpAddress } from '../audit/address.ts';
import type { SessionState } from './session-state.ts';

/**
 * msys.expandMacro (spec lua-policy-api §8): `%{vctx_conn:k}`, `%{vctx_mess:k}`,
 * `%{spfv1:…}` with RFC 7208 §7 letters and transformers, and bare `%{i}`.
 * An unknown macro is left as written, so a typo shows up in the output
 * instead of silently becoming "".
 */

const MACRO = /%\{([a-z0-9_]+)(?::([^}]*))?\}/gi;
const SPF = /^([slodipvhct])(\d*)(r?)([.\-+,/_=]*)$/i;
const MAX_OUTPUT = 65536;

export function expandMacro(text: string, state: SessionState | null, nowSeconds: number): string {
  const out = text.replace(MACRO, (whole, ns: string, arg: string | undefined) => {
    const space = ns.toLowerCase();
    if (arg === undefined) {
      if (space === 'i' && state) return state.peerText;
      return whole;
    }
    if (space === 'vctx_conn') return state?.vctxConn.get(arg) ?? '';
    if (space === 'vctx_mess') return state?.vctxMess.get(arg) ?? '';
    if (space === 'spfv1') return spf(arg, state, nowSeconds) ?? whole;
    return whole;
  });
  return out.length > MAX_OUTPUT ? out.slice(0, MAX_OUTPUT) : out;
}

function spf(spec: string, state: SessionState | null, nowSeconds: number): string | undefined {
  const m = SPF.exec(spec);
  if (!m) return undefined;
  const [, letterRaw, digits, reverse, delims] = m;
  const letter = letterRaw!.toLowerCase();
  const value = spfValue(letter, state, nowSeconds);
  if (value === undefined) return undefined;
  if (!digits && !reverse && !delims) return value;
  const splitter = new RegExp(`[${escapeClass(delims || '.')}]`);
  let parts = value.split(splitter);
  if (reverse) parts = parts.reverse();
  const keep = digits ? Number(digits) : 0;
  if (keep > 0 && keep < parts.length) parts = parts.slice(parts.length - keep);
  return parts.join('.');
}

function spfValue(letter: string, state: SessionState | null, nowSeconds: number): string | undefined {
  if (letter === 't') return String(Math.floor(nowSeconds));
  if (!state) return undefined;
  const sender = state.message?.mailFrom ?? '';
  const at = sender.lastIndexOf('@');
  const helo = state.ehlo ?? '';
  const local = at > 0 ? sender.slice(0, at) : 'postmaster';
  const domain = at >= 0 ? sender.slice(at + 1) : helo;
  switch (letter) {
    case 's':
      return `${local}@${domain}`;
    case 'l':
      return local;
    case 'o':
    case 'd':
      return domain;
    case 'i':
      return spfIp(state.peer);
    case 'c':
      return state.peerText;
    case 'v':
      return state.peer.family === 4 ? 'in-addr' : 'ip6';
    case 'h':
      return helo;
    case 'p':
      return 'unknown'; // no validated PTR without DNS
    default:
      return undefined;
  }
}

/** IPv4 dotted quad; IPv6 as 32 dot-separated nibbles (RFC 7208 §7.3). */
function spfIp(addr: IpAddress): string {
  const text = formatAddress(addr);
  if (addr.family === 4) return text;
  return expandIpv6(text).split('').join('.');
}

function expandIpv6(text: string): string {
  const [head, tail] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = text.includes('::') ? new Array(8 - h.length - t.length).fill('0') : [];
  return [...h, ...fill, ...t].map((g) => g.padStart(4, '0')).join('');
}

function escapeClass(s: string): string {
  return s.replace(/[\\\]\-^]/g, '\\$&');
}
