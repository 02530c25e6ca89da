/**
 * CPU per session of the policy engine alone, no sockets: the part of the SMTP
 * bench's figure that is moonwatch's own policy path, measured in one process
 * (far less noisy than the SMTP bench on a shared machine).
 *
 *   W=noop|five|examples C=500 N=20000 node --max-semi-space-size=32 --import tsx scripts/engine-cost.ts
 *
 * C sessions run interleaved (C=500 is what the SMTP bench's 500 clients do to
 * caches); each does connect, EHLO, MAIL, RCPT and DATA with the bench's
 * policies and raised thresholds. The TypeScript sources run under tsx, which
 * adds a little per closure the build does not have; FROM=dist runs the
 * compiled build in dist/ instead (`npm run build` first), what `moonwatch
 * serve` runs, e.g. to compare two checkouts' builds.
 */
import { readFileSync, rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { BODY, writeMoonwatchSetup, type PolicyChoice } from '../test/bench/smtp-targets.ts';

const fromDist = process.env['FROM'] === 'dist';
const load = <T>(module: string): Promise<T> => import(fromDist ? `../dist/${module}.js` : `../src/${module}.ts`) as Promise<T>;
const { AuditStore } = await load<typeof import('../src/audit/store.ts')>('audit/store');
const { SystemClock } = await load<typeof import('../src/clock.ts')>('clock');
const { parseConfig } = await load<typeof import('../src/config/load.ts')>('config/load');
const { engineOptionsFrom, storeOptionsFrom } = await load<typeof import('../src/config/schema.ts')>('config/schema');
const { createEngine } = await load<typeof import('../src/policy/engine.ts')>('policy/engine');

const which = (process.env['W'] ?? 'five') as PolicyChoice;
const N = Number(process.env['N'] ?? 20000);
const C = Number(process.env['C'] ?? 500);
const { dir, configFile } = writeMoonwatchSetup(which, { relaxed: true, maxConnectionsPerIp: 100_000 });
const config = parseConfig(readFileSync(configFile, 'utf8'), configFile);
const logger = pino({ level: 'warn' }, new Writable({ write: (_c, _e, cb) => cb() }));
const clock = new SystemClock();
const store = new AuditStore(storeOptionsFrom(config, { clock, logger }));
const engine = await createEngine(engineOptionsFrom(config, { clock, logger, store }));
const raw = Buffer.from(BODY);

async function session(i: number): Promise<void> {
  const s = engine.openSession({ remote: { address: '127.0.0.1', port: 1024 + (i % 60000) }, local: { address: '127.0.0.1', port: 25 }, listener: '127.0.0.1:25' });
  await s.connect();
  await s.ehlo('client.example');
  await s.mailFrom('<load@sender.example>');
  await s.rcptTo('<alice@example.test>');
  await s.data({ raw }, async () => undefined);
  s.close('quit');
}

async function batch(n: number): Promise<void> {
  for (let i = 0; i < n; i += C) await Promise.all(Array.from({ length: Math.min(C, n - i) }, (_, j) => session(i + j)));
}

await batch(3000); // warm-up: JIT, Lua, store
const cpu0 = process.cpuUsage();
await batch(N);
const cpu = process.cpuUsage(cpu0);
console.log(`${which}, ${C} interleaved${fromDist ? ' (dist)' : ''}: ${((cpu.user + cpu.system) / N).toFixed(1)} µs CPU per session`);
await engine.close();
rmSync(dir, { recursive: true, force: true });
