/**
 * Mutation check for example policies: flip one comparison operator in a
 * policy (> ↔ <=, >= ↔ <, == ↔ ~=), run that policy's fixtures against the
 * mutated copy, and see whether any fixture notices. A mutant nobody notices
 * means the fixtures do not pin that decision down.
 *
 * A developer tool (run by scripts/mutation-check.ts), not part of the
 * harness: it sits above it and nothing in src imports it.
 */
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { discoverFixtures } from '../harness/discover.ts';
import { runFixtureFile } from '../harness/runner.ts';
import { tokenizeLua, tokenText } from '../lua/lexer.ts';

export interface Comparison {
  /** Offset of the operator in the source. */
  readonly index: number;
  readonly op: string;
  readonly line: number;
}

const FLIP: Record<string, string> = { '>': '<=', '<=': '>', '>=': '<', '<': '>=', '==': '~=', '~=': '==', '!=': '==' };

/**
 * Comparison operators of a Lua (Momentum dialect) source, as the one Lua
 * tokenizer sees them: nothing in strings, long strings or comments, and not
 * the shift operators << and >>.
 */
export function findComparisons(source: string): Comparison[] {
  const out: Comparison[] = [];
  for (const t of tokenizeLua(source)) {
    if (t.kind !== 'symbol') continue;
    const op = tokenText(source, t);
    if (FLIP[op] !== undefined) out.push({ index: t.start, op, line: t.line });
  }
  return out;
}

/** The source with comparison number `k` flipped. */
export function mutate(source: string, k: number): { source: string; from: string; to: string; line: number } {
  const cmp = findComparisons(source)[k];
  if (cmp === undefined) throw new RangeError(`no comparison number ${k}`);
  const to = FLIP[cmp.op]!;
  return { source: source.slice(0, cmp.index) + to + source.slice(cmp.index + cmp.op.length), from: cmp.op, to, line: cmp.line };
}

export interface MutantResult {
  readonly line: number;
  readonly from: string;
  readonly to: string;
  readonly killed: boolean;
  /** The fixture that noticed, if any. */
  readonly killedBy?: string;
}

export interface PolicyMutationReport {
  readonly policy: string;
  readonly fixtures: number;
  /** Fixtures failing against the unmodified policy make the check meaningless. */
  readonly baselineFailures: readonly string[];
  readonly mutants: readonly MutantResult[];
  readonly ok: boolean;
}

export interface MutationOptions {
  /** Directory of the policies (<name>.lua). */
  readonly policiesDir: string;
  /** Directory holding one fixture directory per policy (<name>/…yaml). */
  readonly fixturesDir: string;
  /** Only these policies (default: every policy that has a fixture directory). */
  readonly policies?: readonly string[];
  /** Only the first comparison of each policy (quick check) instead of every one. */
  readonly firstOnly?: boolean;
}

export async function runMutationCheck(opts: MutationOptions): Promise<PolicyMutationReport[]> {
  const names = opts.policies ?? readdirSync(opts.policiesDir)
    .filter((f) => f.endsWith('.lua'))
    .map((f) => f.slice(0, -4))
    .sort();
  const work = mkdtempSync(join(tmpdir(), 'moonwatch-mutants-'));
  try {
    const reports: PolicyMutationReport[] = [];
    for (const policy of names) reports.push(await checkPolicy(policy, opts, work));
    return reports;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function checkPolicy(policy: string, opts: MutationOptions, work: string): Promise<PolicyMutationReport> {
  const fixtureDir = join(opts.fixturesDir, policy);
  const fixtures = existsSync(fixtureDir) ? discoverFixtures([fixtureDir]) : [];
  const copy = join(work, policy);
  cpSync(opts.policiesDir, copy, { recursive: true });
  const file = join(copy, `${policy}.lua`);
  const original = readFileSync(file, 'utf8');

  const failing = async (): Promise<string | undefined> => {
    for (const f of fixtures) {
      const r = await runFixtureFile(f, { scriptsDir: copy });
      if (!r.ok) return f;
    }
    return undefined;
  };

  const baselineFailures: string[] = [];
  for (const f of fixtures) {
    const r = await runFixtureFile(f, { scriptsDir: copy });
    if (!r.ok) baselineFailures.push(f);
  }
  const mutants: MutantResult[] = [];
  if (baselineFailures.length === 0 && fixtures.length > 0) {
    const total = findComparisons(original).length;
    for (let k = 0; k < (opts.firstOnly ? Math.min(1, total) : total); k++) {
      const m = mutate(original, k);
      writeFileSync(file, m.source);
      const killer = await failing();
      mutants.push({ line: m.line, from: m.from, to: m.to, killed: killer !== undefined, ...(killer === undefined ? {} : { killedBy: killer }) });
    }
    writeFileSync(file, original);
  }
  const ok = fixtures.length > 0 && baselineFailures.length === 0 && mutants.length > 0 && mutants.every((m) => m.killed);
  return { policy, fixtures: fixtures.length, baselineFailures, mutants, ok };
}
