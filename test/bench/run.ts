/**
 * `npm run bench [-- --json] [-- name-filter]`: runs every test/bench/*.bench.ts
 * (each exports a default async function returning BenchResult[]) and prints a
 * table, or the JSON array with --json. Exit code is 0 whatever the figures:
 * a slow shared machine must not fail anything.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchResult } from './lib.ts';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const json = args.includes('--json');
const filters = args.filter((a) => !a.startsWith('--'));

const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((p) => f.includes(p)))
  .sort();

const all: BenchResult[] = [];
for (const file of files) {
  const mod = (await import(pathToFileURL(join(here, file)).href)) as { default: () => Promise<BenchResult[]> };
  if (!json) process.stderr.write(`running ${file} ...\n`);
  const results = await mod.default();
  all.push(...results);
  if (!json) printTable(file, results);
}

if (json) process.stdout.write(JSON.stringify(all, null, 2) + '\n');

function printTable(file: string, results: BenchResult[]): void {
  const rows = results.map((r) => [
    r.name,
    `${r.value} ${r.unit}`,
    `${r.baseline} ${r.unit}`,
    String(r.ratio),
    r.target,
    r.pass ? 'pass' : 'MISS',
  ]);
  const head = ['benchmark', 'value', 'baseline', 'ratio', 'target', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(`\n## ${file}`);
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}
