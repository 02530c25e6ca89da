/**
 * What `npm install moonwatch` gives, proved from a packed tarball: the
 * package is built and packed in a staging copy of the checkout (so the
 * checkout's own dist/ is never rewritten under other tests), installed into
 * a fresh project with `npm ci --prefer-offline` (its lockfile lists the packed
 * tarball and the runtime dependencies, which `npm ci` has cached), then used from
 * plain node, from a NodeNext TypeScript project and through `npx moonwatch`.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string> };
let work: string;
let project: string;
let tarball: string;
let files: string[];

async function sh(cmd: string, args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  const env = { ...process.env, MOONWATCH_FROM_SOURCE: '', npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };
  return run(cmd, args, { cwd, env, maxBuffer: 16 * 1024 * 1024 });
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'mw-pack-'));
  const stage = join(work, 'stage');
  cpSync(repo, stage, {
    recursive: true,
    filter: (src) => !/[/\\](node_modules|\.git|dist|coverage|var|\.tmp)$/.test(src) && !src.endsWith('.tgz'),
  });
  symlinkSync(join(repo, 'node_modules'), join(stage, 'node_modules'), 'dir');
  await sh(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], stage);
  const packed = await sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], stage);
  const info = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, info[0]!.filename);
  files = info[0]!.files.map((f) => f.path);

  // A consumer project whose lockfile pins what the checkout's lockfile pins: npm ci installs it from the cache.
  project = join(work, 'consumer');
  mkdirSync(project);
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, Record<string, unknown>> };
  const root = lock.packages['']!;
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', dependencies: { moonwatch: `file:${tarball}` }, devDependencies: { '@types/node': '*' } },
    'node_modules/moonwatch': { version: pkg.version, resolved: `file:${tarball}`, dependencies: root.dependencies, bin: root.bin, license: 'MIT' },
  };
  for (const [k, v] of Object.entries(lock.packages)) {
    if (!k.startsWith('node_modules/') || k.startsWith('node_modules/moonwatch')) continue;
    if (v.dev !== true && v.devOptional !== true) packages[k] = v;
  }
  for (const typesPkg of ['node_modules/@types/node', 'node_modules/undici-types']) packages[typesPkg] = lock.packages[typesPkg];
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { moonwatch: `file:${tarball}` }, devDependencies: { '@types/node': '*' } }));
  writeFileSync(join(project, 'package-lock.json'), JSON.stringify({ name: 'consumer', lockfileVersion: 3, requires: true, packages }));
  await sh('npm', ['ci', '--prefer-offline'], project);

  mkdirSync(join(project, 'policies'));
  writeFileSync(
    join(project, 'policies', 'gate.lua'),
    `require("msys.core")\nlocal g = {}\nfunction g:validate_rcptto(msg, rcpt, ac, vctx)\n  if tostring(rcpt) == "nobody@example.test" then\n    vctx:set_code(550, "5.1.1 No such user")\n    return msys.core.VALIDATE_DONE\n  end\n  return msys.core.VALIDATE_CONT\nend\nmsys.registerModule("gate", g)\n`,
  );
  writeFileSync(join(project, 'moonwatch.yaml'), 'listen: ["127.0.0.1:0"]\nscripts:\n  dir: policies\n  modules: [gate]\n');
  mkdirSync(join(project, 'fixtures'));
  writeFileSync(
    join(project, 'fixtures', 'gate.yaml'),
    'name: gate refuses nobody\nstart: 2025-03-03T10:00:00Z\npolicy:\n  config: ../moonwatch.yaml\nsteps:\n  - session:\n      from: 192.0.2.1\n      commands:\n        - connect\n        - ehlo\n        - mail\n        - rcpt: nobody@example.test\n          expect: { code: 550, enhanced: 5.1.1 }\n        - quit\n',
  );
}, 240_000);

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('holds the build, the bin, LICENSE and README, and no tests, sources or CI files', () => {
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files).toContain('dist/harness/index.js');
    expect(files).toContain('bin/moonwatch.js');
    expect(files).toContain('LICENSE');
    expect(files.filter((f) => /^(test|src|\.ci|scripts)\//.test(f) || f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.filter((f) => /\.(key|pem)$/.test(f))).toEqual([]);
  });

  it('imports from plain node ESM: moonwatch and moonwatch/harness', async () => {
    writeFileSync(
      join(project, 'use.mjs'),
      `import { AuditStore, ManualClock, createLogger, parseConfig } from 'moonwatch';\n` +
        `import { runFixtureFile } from 'moonwatch/harness';\n` +
        `const store = new AuditStore({ clock: new ManualClock(0), logger: createLogger({ level: 'silent' }), monitors: ['60,10'] });\n` +
        `const r = await runFixtureFile('fixtures/gate.yaml');\n` +
        `console.log(JSON.stringify({ store: typeof store.series, ok: r.ok, parse: typeof parseConfig }));\n`,
    );
    const { stdout } = await sh(process.execPath, ['use.mjs'], project);
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({ store: 'object', ok: true, parse: 'function' });
  }, 120_000);

  it('type-checks in a NodeNext TypeScript project with zero errors (library types checked too)', async () => {
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] }, include: ['use.ts'] }),
    );
    writeFileSync(
      join(project, 'use.ts'),
      `import { AuditStore, ManualClock, createLogger, loadConfigFile, type MoonwatchConfig, type Verdict } from 'moonwatch';\n` +
        `import { runFixtureFile, type FixtureResult } from 'moonwatch/harness';\n` +
        `const store = new AuditStore({ clock: new ManualClock(0), logger: createLogger({ level: 'silent' }), monitors: ['60,10'] });\n` +
        `const result: Promise<FixtureResult> = runFixtureFile('fixtures/gate.yaml');\n` +
        `const load: (file: string) => MoonwatchConfig = loadConfigFile;\n` +
        `let v: Verdict | undefined;\n` +
        `export { store, result, load, v };\n`,
    );
    const tsc = join(repo, 'node_modules/typescript/bin/tsc');
    const out = await sh(process.execPath, [tsc, '-p', '.'], project).catch((err: { stdout: string }) => err);
    expect(out.stdout).toBe('');
  }, 120_000);

  it('runs npx moonwatch --help and npx moonwatch test on a fixture from the installed bin', async () => {
    expect(existsSync(join(project, 'node_modules/moonwatch/src'))).toBe(false);
    const help = await sh('npx', ['--no-install', 'moonwatch', '--help'], project);
    expect(help.stdout).toContain('usage: moonwatch <command>');
    const test = await sh('npx', ['--no-install', 'moonwatch', 'test', 'fixtures'], project);
    expect(test.stdout).toMatch(/ok +fixtures\/gate\.yaml +gate refuses nobody/);
    expect(test.stdout).toContain('1 passed');
  }, 120_000);
});
