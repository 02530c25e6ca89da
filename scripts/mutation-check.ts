/**
 * node --import tsx scripts/mutation-check.ts [--first] [policy ...]
 *
 * For each example policy, flips each comparison operator in turn (or only
 * the first with --first) in a temporary copy of examples/policies and runs
 * that policy's fixtures (examples/fixtures/<policy>/) against it. Exits 1 if
 * any mutant survives, a policy has no fixtures, or its fixtures already fail.
 */
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runMutationCheck } from '../src/tools/mutation.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const firstOnly = args.includes('--first');
const unknown = args.filter((a) => a.startsWith('-') && a !== '--first');
if (unknown.length > 0) {
  process.stderr.write(`unknown option ${unknown.join(' ')}\nusage: mutation-check.ts [--first] [policy ...]\n`);
  process.exit(2);
}
const policies = args.filter((a) => !a.startsWith('-'));

const reports = await runMutationCheck({
  policiesDir: join(root, 'examples/policies'),
  fixturesDir: join(root, 'examples/fixtures'),
  ...(policies.length > 0 ? { policies } : {}),
  firstOnly,
});

for (const r of reports) {
  const killed = r.mutants.filter((m) => m.killed).length;
  const status = r.ok ? 'killed' : 'SURVIVED';
  if (r.fixtures === 0) {
    console.log(`NO FIXTURES  ${r.policy}: add fixtures under examples/fixtures/${r.policy}/`);
    continue;
  }
  if (r.baselineFailures.length > 0) {
    console.log(`BROKEN  ${r.policy}: fixtures fail on the unmodified policy: ${r.baselineFailures.map((f) => relative(root, f)).join(', ')}`);
    continue;
  }
  console.log(`${status.padEnd(8)} ${r.policy}: ${killed}/${r.mutants.length} mutants killed by ${r.fixtures} fixture(s)`);
  for (const m of r.mutants) {
    const by = m.killedBy === undefined ? 'no fixture failed' : `caught by ${relative(root, m.killedBy)}`;
    console.log(`         line ${m.line}: ${m.from} -> ${m.to}  ${m.killed ? 'killed' : 'SURVIVED'} (${by})`);
  }
}
process.exit(reports.every((r) => r.ok) ? 0 : 1);
