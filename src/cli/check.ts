/**
 * `moonwatch check [--config FILE]`: everything `serve` would refuse, found
 * without listening, without a control socket and without reading or writing
 * saved state (like `postfix check` / `rspamadm configtest`). The config is
 * validated; each configured script is compiled and its init run on its own,
 * so one broken script does not hide the next; then all of them together, as
 * serve builds them; and every `msys.*` name a script mentions that the host
 * does not provide is listed. Exit 0: none; 1: every problem, one per line,
 * "file:line: text"; 2: usage.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { AuditStore } from '../audit/store.ts';
import { SystemClock } from '../clock.ts';
import { ConfigError } from '../config/errors.ts';
import { loadConfigFile } from '../config/load.ts';
import { engineOptionsFrom, storeOptionsFrom, type MoonwatchConfig } from '../config/schema.ts';
import { errorMessage } from '../errors.ts';
import { captureLogger, LEVELS } from '../log.ts';
import { ScriptFault } from '../lua/errors.ts';
import { modulePathToFile, scriptFile } from '../lua/sources.ts';
import { createEngine } from '../policy/engine.ts';
import { parseArgs, UsageError } from './args.ts';
import { missingBuiltins, msysBuiltinNames } from './builtins.ts';
import { findDefaultConfig } from './default-config.ts';
import type { ServeIo } from './serve.ts';

export const CHECK_USAGE = `usage: moonwatch check [--config FILE]

Validates FILE and its scripts without serving: the config, each script
compiled and its init run, the module registrations, all scripts built
together as serve builds them, and msys.* names the host does not provide.
Prints every problem as file:line: text. Exit 0 when there is none, 1 when
there is any, 2 on bad usage. Nothing listens and no saved state is read or
written. Without --config: $MOONWATCH_CONFIG, ./moonwatch.yaml,
/etc/moonwatch/moonwatch.yaml.

options:
  -c, --config FILE   the config file
  -h, --help          show this help
`;

type Io = Pick<ServeIo, 'stdout' | 'stderr'>;

export interface Problem {
  readonly file: string;
  readonly line: number;
  readonly text: string;
}

/** Resolves --config or the default location; a usage error says where it looked. */
export function configArg(argv: readonly string[], usage: string, name: string, io: Io): { file: string } | { code: number } {
  try {
    const args = parseArgs(argv, [
      { name: 'config', alias: 'c' },
      { name: 'help', alias: 'h', switch: true },
    ]);
    if (args.flags.has('help')) {
      io.stdout.write(usage);
      return { code: 0 };
    }
    if (args.positional.length > 0) throw new UsageError(`unexpected argument ${args.positional[0]}`);
    const c = args.flags.get('config');
    if (typeof c === 'string') return { file: c };
    const found = findDefaultConfig();
    if (found.file !== undefined) return { file: found.file };
    throw new UsageError(`no --config FILE, and no config at ${found.looked.join(', ')}`);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr.write(`moonwatch ${name}: ${err.message}\n\n${usage}`);
    return { code: 2 };
  }
}

export async function runCheck(argv: readonly string[], io: Io): Promise<number> {
  const arg = configArg(argv, CHECK_USAGE, 'check', io);
  if ('code' in arg) return arg.code;
  const { problems, warnings, config } = await checkConfigFile(arg.file);
  for (const w of warnings) io.stdout.write(`warning: ${formatProblem(w)}\n`);
  for (const p of problems) io.stdout.write(`${formatProblem(p)}\n`);
  if (problems.length > 0) {
    io.stdout.write(`moonwatch check: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n`);
    return 1;
  }
  io.stdout.write(`moonwatch check: ${config?.file ?? arg.file} OK (${config?.scripts.modules.length ?? 0} scripts compiled, init ran)\n`);
  return 0;
}

export function formatProblem(p: Problem): string {
  const file = relative(process.cwd(), p.file) || p.file;
  return `${file.startsWith('..') ? p.file : file}${p.line > 0 ? `:${p.line}` : ''}: ${p.text}`;
}

export interface CheckResult {
  readonly problems: Problem[];
  readonly warnings: Problem[];
  readonly config?: MoonwatchConfig;
}

export async function checkConfigFile(file: string): Promise<CheckResult> {
  let config: MoonwatchConfig;
  try {
    config = loadConfigFile(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // The config reader stops at its first problem: nothing after it can be checked meaningfully.
    return { problems: [{ file: err.file, line: err.line, text: `${err.setting === '' ? '' : `${err.setting}: `}${err.problem}` }], warnings: [] };
  }
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  const configText = readFileSync(config.file, 'utf8');
  const dir = config.scripts.dir;
  const present: string[] = [];
  for (const m of config.scripts.modules) {
    let rel: string;
    try {
      rel = modulePathToFile(m);
    } catch (err) {
      problems.push({ file: config.file, line: lineMentioning(configText, m), text: `scripts.modules: ${errorMessage(err)}` });
      continue;
    }
    if (!existsSync(join(dir, rel))) {
      problems.push({ file: config.file, line: lineMentioning(configText, m), text: `scripts.modules: "${m}": no file ${join(dir, rel)}` });
      continue;
    }
    present.push(m);
  }
  // Each script alone: one that fails to compile or init does not hide the next.
  let allBuilt = present.length === config.scripts.modules.length;
  for (const m of present) {
    const fault = await buildFault(config, [m], warnings);
    if (fault !== undefined) {
      problems.push(fault);
      allBuilt = false;
    }
  }
  // Then together, as serve builds them (a name clash, a require cycle, init order).
  if (allBuilt && present.length > 1) {
    const fault = await buildFault(config, present, warnings);
    if (fault !== undefined) problems.push(fault);
  }
  const known = msysBuiltinNames({ compatConnectionAlias: config.scripts.compatConnectionAlias });
  for (const m of present) {
    const path = join(dir, modulePathToFile(m));
    for (const miss of missingBuiltins(readFileSync(path, 'utf8'), known)) {
      problems.push({ file: path, line: miss.line, text: `${miss.name} is not provided by moonwatch` });
    }
  }
  return { problems, warnings: dedupe(warnings), config };
}

async function buildFault(config: MoonwatchConfig, modules: string[], warnings: Problem[]): Promise<Problem | undefined> {
  const clock = new SystemClock();
  const { logger, records } = captureLogger('warn');
  const store = new AuditStore(storeOptionsFrom(config, { clock, logger }));
  const base = engineOptionsFrom(config, { clock, logger, store });
  try {
    const engine = await createEngine({ ...base, scripts: { ...base.scripts, modules } });
    await engine.close();
  } catch (err) {
    return faultProblem(config, err);
  } finally {
    for (const r of records) {
      if (r.level < LEVELS.warn) continue;
      const script = typeof r.script === 'string' ? r.script : undefined;
      warnings.push({ file: script === undefined ? config.file : join(config.scripts.dir, script.endsWith('.lua') ? script : scriptFile(script)), line: 0, text: String(r.msg) });
    }
  }
  return undefined;
}

function faultProblem(config: MoonwatchConfig, err: unknown): Problem {
  if (err instanceof ScriptFault && err.script !== undefined && err.line !== undefined && !err.script.startsWith('[')) {
    // require's wrapper ("error loading module 'b' from file 'b.lua':\n\tb.lua:4: …") adds nothing: keep the innermost position.
    const inner = /([A-Za-z0-9_./-]+\.lua):(\d+):\s*([^\n]*)\s*$/.exec(err.luaMessage);
    if (inner !== null) return { file: join(config.scripts.dir, inner[1]!), line: Number(inner[2]), text: inner[3]! };
    return { file: join(config.scripts.dir, err.script), line: err.line, text: err.luaMessage.replace(/^.*?\.lua:\d+:\s*/, '') };
  }
  const message = errorMessage(err);
  const m = /^([A-Za-z0-9_./-]+\.lua): (.*)$/s.exec(message);
  if (m !== null) return { file: join(config.scripts.dir, m[1]!), line: 0, text: m[2]! };
  return { file: config.scripts.dir, line: 0, text: message };
}

function lineMentioning(text: string, needle: string): number {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => new RegExp(`(^|[\\s"'\\[,-])${needle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[\\s"',\\]])`).test(l));
  return i < 0 ? 0 : i + 1;
}

function dedupe(ps: Problem[]): Problem[] {
  const seen = new Set<string>();
  return ps.filter((p) => {
    const k = formatProblem(p);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
