/**
 * `npm run bench [-- --json] [-- name-filter]`: runs every test/bench/*.bench.ts
 * (each exports a default async function returning BenchResult[]) and prints a
 * table, or the JSON array with --json. Exit code is 0 whatever the figures:
 * a slow shared machine must not fail anything.
 *
 * Each file runs in a process of its own (same Node flags): run one after the
 * other in one process, the store scenario's gigabyte and the harness's
 * engines were still in the heap when the SMTP benchmark ran, and its ratios
 * came out about 0.1 lower than in a fresh process.
 */
import { spawnSync } from 'node:child_process';
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

const MARK = '@@moonwatch-bench-results@@';
const one = args.find((a) => a.startsWith('--one='))?.slice('--one='.length);

if (one !== undefined) {
  const mod = (await import(pathToFileURL(join(here, one)).href)) as { default: () => Promise<BenchResult[]> };
  const results = await mod.default();
  process.stdout.write(`\n${MARK}${JSON.stringify(results)}\n`);
  // Servers and workers a benchmark left behind must not keep the child alive.
  process.exit(0);
}

const all: BenchResult[] = [];
for (const file of files) {
  if (!json) process.stderr.write(`running ${file} ...\n`);
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), `--one=${file}`], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const at = child.stdout.lastIndexOf(MARK);
  if (at < 0) {
    process.stderr.write(`${file}: no results (exit ${child.status ?? child.signal})\n${child.stdout}`);
    process.exitCode = 1;
    continue;
  }
  const results = JSON.parse(child.stdout.slice(at + MARK.length)) as BenchResult[];
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
