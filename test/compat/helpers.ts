import type { LogRecord } from '../../src/log.ts';
import type { CompatServices, DnsAnswer } from '../../src/msys/compat-services.ts';
import { FixtureDnsResolver } from '../../src/msys/dns-resolver.ts';
import { runSession, testEngine, type TestEngine } from '../helpers/engine.ts';

export const prints = (t: { records: LogRecord[] }): string[] =>
  t.records.filter((r) => (r as { script_print?: unknown }).script_print).map((r) => r.msg);

/** Services answering DNS from a table, with instant sleeps. */
export function fixtureServices(dns: Record<string, DnsAnswer> = {}, extra: Partial<CompatServices> = {}): CompatServices {
  return { dns: new FixtureDnsResolver(dns), sleep: () => Promise.resolve(), phaseTimeoutMs: 5000, ...extra };
}

/**
 * A policy whose validate_connect runs `body` (Lua, with ac and vctx in
 * scope); `init` runs in init. Returns the engine after one session from
 * `peer`, with what the script printed.
 */
export async function runConnect(
  body: string,
  opts: { init?: string; files?: Record<string, string>; services?: CompatServices; peer?: string } = {},
): Promise<{ t: TestEngine; out: string[]; verdict: unknown }> {
  const t = await testEngine({
    scripts: {
      'p.lua': `local m = {}
function m:init()
${opts.init ?? ''}
  return true
end
function m:validate_connect(ac, vctx)
${body}
  return msys.core.VALIDATE_CONT
end
msys.registerModule("p", m)`,
      ...(opts.files ?? {}),
    },
    modules: ['p'],
    overrides: { compat: opts.services ?? fixtureServices() },
  });
  const { verdicts } = await runSession(t, opts.peer ?? '192.0.2.1');
  return { t, out: prints(t), verdict: verdicts['connect'] };
}

/** The fault line the session logged for a callout error. */
export function faultLines(t: TestEngine): string[] {
  return t.records.filter((r) => / error: /.test(r.msg) && r.level >= 50).map((r) => r.msg);
}
