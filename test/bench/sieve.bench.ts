/**
 * Issue 12 target: a connect-phase Sieve policy (three ec_ip_* reads, two
 * ec_test) costs no more per phase than the equivalent Lua policy, measured
 * in the same run through the same PolicySession: Sieve ≤ 1× Lua.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAddress } from '../../src/audit/address.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { ManualClock } from '../../src/clock.ts';
import { createLogger } from '../../src/log.ts';
import { createEngine, type Engine } from '../../src/policy/engine.ts';
import type { EngineOptions } from '../../src/policy/engine-options.ts';
import type { PolicySession } from '../../src/policy/session-api.ts';
import { result, type BenchResult } from './lib.ts';

const SIEVE = `$rate = ec_ip_connections "0";
$net = ec_ip_connections "0" "24";
$rej = ec_ip_rejections "1";
if ec_test :value "gt" :comparator "i;ascii-numeric" "\${rate}" "1000000" {
  ec_disconnect 421 "4.7.0 busy";
}
if ec_test :value "gt" :comparator "i;ascii-numeric" "\${net}" "1000000" {
  ec_tarpit 5 "net";
}
`;

const LUA = `require("msys.core")
require("msys.audit")
require("msys.extended.vctx")
local m = {}
function m:validate_connect(ac, vctx)
  local rate = msys.audit.connections("60,10")
  local net = msys.audit.connections("60,10", "/24")
  local rej = msys.audit.rejections("300,6")
  if rate > 1000000 then
    vctx:disconnect(421, "4.7.0 busy")
    return msys.core.VALIDATE_DONE
  end
  if net > 1000000 then vctx:tarpit(5) end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("guard", m)
`;

export default async function bench(): Promise<BenchResult[]> {
  const clock = new ManualClock(Date.UTC(2026, 10, 22, 10, 0, 30));
  const logger = createLogger({ level: process.env['BENCH_LOG'] ?? 'warn' });
  const store = new AuditStore({ clock, logger, monitors: ['60,10', '300,6'] });
  for (let i = 0; i < 1000; i++) store.record('connections', parseAddress(`192.0.2.${i & 255}`));
  for (let i = 0; i < 100; i++) store.record('rejections', parseAddress('192.0.2.10'));

  const dir = mkdtempSync(join(tmpdir(), 'mw-bench-sieve-'));
  writeFileSync(join(dir, 'guard.lua'), LUA);
  writeFileSync(join(dir, 'guard.siv'), SIEVE);
  const base = { clock, logger, store, budget: { instructions: 1_000_000, wallMs: 100 } } satisfies Partial<EngineOptions>;
  const lua = await createEngine({ ...base, scripts: { dir, modules: ['guard'] } });
  const sieve = await createEngine({ ...base, scripts: { dir, modules: [], sieve: { phases: { connect: ['guard.siv'] }, runtimeError: 'fail' } } });
  const open = (e: Engine) => e.openSession({ remote: { address: '192.0.2.10', port: 1 } });
  const ls = open(lua);
  const ss = open(sieve);
  const t = await interleaved(ss, ls);
  ls.close('quit');
  ss.close('quit');
  return [
    result({ name: 'sieve: connect phase, 3 ec_ip_* reads + 2 ec_test (per phase)', value: t.sieve, unit: 'µs', baseline: t.lua, targetOn: 'ratio', cmp: '<=', limit: 1 }),
  ];
}

/** Median µs per connect phase of each, in alternating batches after a shared warm-up. */
async function interleaved(sieve: PolicySession, lua: PolicySession): Promise<{ sieve: number; lua: number }> {
  const BATCH = 500;
  const times = { sieve: [] as number[], lua: [] as number[] };
  const batch = async (s: PolicySession): Promise<number> => {
    const t0 = process.hrtime.bigint();
    for (let b = 0; b < BATCH; b++) await s.connect();
    return Number(process.hrtime.bigint() - t0) / 1000 / BATCH;
  };
  for (let round = -10; round < 41; round++) {
    const a = await batch(sieve);
    const b = await batch(lua);
    if (round >= 0) {
      times.sieve.push(a);
      times.lua.push(b);
    }
  }
  const med = (v: number[]) => [...v].sort((x, y) => x - y)[v.length >> 1]!;
  return { sieve: med(times.sieve), lua: med(times.lua) };
}
