/**
 * `bulk` steps: N sessions from a block, spread evenly over a span of virtual
 * time, each run to its first refusal (as a well-behaved client would give up)
 * and then closed. Outcomes are tallied and compared with the step's expect
 * map. Addresses are drawn from a seeded generator, so every run is the same.
 */
import { formatAddress } from '../audit/address.ts';
import { addressInBlock, checkCidr } from './addresses.ts';
import type { BulkStep } from './fixture.ts';
import { describeNumber, numberMatches } from './match.ts';
import { failStep, type RunContext } from './run-context.ts';

export type Tally = Map<string, number>;

export async function runBulk(ctx: RunContext, step: BulkStep, stepLabel: string): Promise<Tally> {
  const block = checkCidr(step.from, step.pos, 'bulk.from');
  const start = ctx.clock.now();
  const random = mulberry32(step.seed);
  const tally: Tally = new Map();
  const connect = { verb: 'connect' as const, pos: step.pos, expect: { any: true } };
  for (let i = 0; i < step.sessions; i++) {
    const at = start + Math.floor((i * step.overMs) / step.sessions);
    if (at > ctx.clock.now()) ctx.clock.set(at);
    const index = step.pick === 'sequential' ? i : Math.floor(random() * 0x7fffffff);
    const session = ctx.front.open('bulk', formatAddress(addressInBlock(block, index)), undefined, undefined);
    ctx.sessionsRun++;
    let outcome = 'ok';
    let tarpitted = false;
    for (const command of [connect, ...step.commands]) {
      const reply = await session.run(command);
      if (reply === undefined) continue;
      if (reply.tarpitMs > 0) {
        tarpitted = true;
        if (ctx.fixture.tarpitAdvancesClock) ctx.clock.advance(reply.tarpitMs);
      }
      if (reply.code >= 400) {
        outcome = String(reply.code);
        break;
      }
      if (!session.isOpen) break;
    }
    if (session.isOpen) await session.run({ verb: 'quit', pos: step.pos, expect: { any: true } });
    bump(tally, outcome);
    if (outcome !== 'ok') bump(tally, `${outcome[0]}xx`);
    if (tarpitted) bump(tally, 'tarpitted');
  }
  const end = start + step.overMs;
  if (end > ctx.clock.now()) ctx.clock.set(end);

  for (const check of step.expect) {
    const got = tally.get(check.outcome) ?? 0;
    if (!numberMatches(check.value, got)) {
      failStep(ctx, stepLabel, check.pos, `${check.outcome} sessions = ${describeNumber(check.value)}`, `${got} (all outcomes: ${describeTally(tally, step.sessions)})`, []);
    }
  }
  return tally;
}

export function describeTally(tally: Tally, total: number): string {
  const parts = [...tally.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k} ${v}`);
  return `${parts.join(', ')} of ${total}`;
}

function bump(t: Tally, key: string): void {
  t.set(key, (t.get(key) ?? 0) + 1);
}

/** Small, fast, seedable; the same seed gives the same traffic on every machine. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
