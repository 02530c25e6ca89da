/**
 * Issue 13 targets: a phase that awaits an async host call answered at once
 * costs ≤ 1.5× the same phase making a synchronous call (so suspending is
 * cheap enough to use freely); msys.cidr.query on a 100,000-entry rbldnsd
 * table ≤ 2 µs (baseline: the same Lua loop calling a trivial host function).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditStore } from '../../src/audit/store.ts';
import { ManualClock } from '../../src/clock.ts';
import { createLogger } from '../../src/log.ts';
import { FixtureDnsResolver } from '../../src/msys/dns-resolver.ts';
import { createEngine } from '../../src/policy/engine.ts';
import type { PolicySession } from '../../src/policy/session-api.ts';
import { median, result, type BenchResult } from './lib.ts';

const PHASES = `local m = {}
function m:validate_ehlo(str, ac, vctx)
  if tostring(str) == "async" then msys.sleep(0) else msys.core.get_now_ts() end
  return msys.core.VALIDATE_CONT
end
function m:validate_mailfrom(str, ac, vctx)
  local n, q, ips = 0, msys.cidr.query, IPS
  if tostring(str) == "q@cidr" then
    for i = 1, #ips do if q("big", ips[i]) ~= "" then n = n + 1 end end
  else
    local f = msys.core.get_now_ts
    for i = 1, #ips do if f(ips[i]) ~= "" then n = n + 1 end end
  end
  return msys.core.VALIDATE_CONT
end
function m:init()
  msys.cidr.define("big", { type = "rbldnsd", source = "big.txt", default_value = "" })
  IPS = {}
  for i = 1, 1000 do IPS[i] = string.format("10.%d.%d.%d", (i * 7) % 200, (i * 13) % 256, (i * 31) % 256) end
  return true
end
msys.registerModule("compat_bench", m)
`;

const QUERIES = 1000;

export default async function bench(): Promise<BenchResult[]> {
  const clock = new ManualClock(Date.UTC(2026, 11, 5, 10, 0, 0));
  const logger = createLogger({ level: process.env['BENCH_LOG'] ?? 'warn' });
  const store = new AuditStore({ clock, logger, monitors: ['300,6'] });
  const dir = mkdtempSync(join(tmpdir(), 'mw-bench-compat-'));
  writeFileSync(join(dir, 'compat_bench.lua'), PHASES);
  writeFileSync(join(dir, 'big.txt'), bigList());
  const engine = await createEngine({
    clock,
    logger,
    store,
    scripts: { dir, modules: ['compat_bench'] },
    budget: { instructions: 10_000_000, wallMs: 1000 },
    compat: { dns: new FixtureDnsResolver({}), sleep: () => Promise.resolve(), phaseTimeoutMs: 10_000 },
  });
  const session = engine.openSession({ remote: { address: '192.0.2.10', port: 1 } });
  await session.connect();
  const phases = await interleaved(
    () => session.ehlo('async'),
    () => session.ehlo('sync'),
    500,
  );
  const cidr = await interleaved(
    () => mailQueries(session, 'q@cidr'),
    () => mailQueries(session, 'q@trivial'),
    5,
  );
  session.close('quit');
  await engine.close();
  const perQuery = (ms: number) => ms / QUERIES;
  return [
    result({ name: 'compat: phase awaiting an async host call answered at once vs a sync call', value: phases.a, unit: 'µs', baseline: phases.b, targetOn: 'ratio', cmp: '<=', limit: 1.5 }),
    result({ name: 'compat: msys.cidr.query on a 100,000-entry rbldnsd table (per query, from Lua)', value: perQuery(cidr.a), unit: 'µs', baseline: perQuery(cidr.b), targetOn: 'value', cmp: '<=', limit: 2 }),
  ];
}

async function mailQueries(session: PolicySession, from: string): Promise<void> {
  await session.mailFrom(from);
  session.reset();
}

/** 100,000 entries: 80,000 single addresses and 20,000 /24s, in rbldnsd syntax. */
function bigList(): string {
  const lines = [':127.0.0.2:listed'];
  for (let i = 0; i < 80_000; i++) lines.push(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  for (let i = 0; i < 20_000; i++) lines.push(`172.${16 + ((i >> 8) & 15)}.${i & 255}.0/24 :127.0.0.3`);
  return lines.join('\n') + '\n';
}

/** Median µs per call of a and b, measured in alternating batches after a warm-up. */
async function interleaved(a: () => unknown, b: () => unknown, batch: number): Promise<{ a: number; b: number }> {
  const times = { a: [] as number[], b: [] as number[] };
  for (let s = -5; s < 31; s++) {
    let t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) await a();
    const ta = Number(process.hrtime.bigint() - t0) / 1000 / batch;
    t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) await b();
    const tb = Number(process.hrtime.bigint() - t0) / 1000 / batch;
    if (s >= 0) {
      times.a.push(ta);
      times.b.push(tb);
    }
  }
  return { a: median(times.a), b: median(times.b) };
}
