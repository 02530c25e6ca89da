/**
 * CLI start-up: `moonwatch --help` from the built package (dist/), whole
 * process, beside `node -e 0` (Node's own start-up) measured in the same run,
 * the two started in turn so that drift on a shared machine hits both.
 * Target: median <= 300 ms. Builds dist/ first, as `npm start` does.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { median, result, type BenchResult } from './lib.ts';

const repo = resolve(import.meta.dirname, '../..');

function wallMs(args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { cwd: repo, stdio: 'ignore', env: { ...process.env, MOONWATCH_FROM_SOURCE: '' } });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}`);
  return ms;
}

export default async function bench(): Promise<BenchResult[]> {
  execFileSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: repo, stdio: 'inherit' });
  const cli: number[] = [];
  const node: number[] = [];
  wallMs(['bin/moonwatch.js', '--help']);
  for (let i = 0; i < 21; i++) {
    cli.push(wallMs(['bin/moonwatch.js', '--help']));
    node.push(wallMs(['-e', '0']));
  }
  return [
    result({ name: 'cli start-up: moonwatch --help (vs node -e 0)', value: median(cli), unit: 'ms', baseline: median(node), targetOn: 'value', cmp: '<=', limit: 300 }),
  ];
}
