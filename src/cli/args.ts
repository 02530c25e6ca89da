/**
 * Flag parsing for the CLI commands: `--name value`, `--name=value`, short
 * aliases and boolean switches. Anything unknown is a usage error (exit 2),
 * so a mistyped flag never silently falls back to a default.
 */
import { MoonwatchError } from '../errors.ts';

export class UsageError extends MoonwatchError {
  constructor(message: string) {
    super('MW_ERR_USAGE', message);
  }
}

export interface FlagSpec {
  readonly name: string;
  readonly alias?: string;
  /** A switch takes no value. */
  readonly switch?: boolean;
}

export interface ParsedArgs {
  readonly flags: Map<string, string | true>;
  readonly positional: string[];
}

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const key = eq >= 0 ? arg.slice(0, eq) : arg;
    const spec = specs.find((s) => `--${s.name}` === key || (s.alias !== undefined && `-${s.alias}` === key));
    if (spec === undefined) throw new UsageError(`unknown option ${key}`);
    if (spec.switch === true) {
      if (eq >= 0) throw new UsageError(`--${spec.name} takes no value`);
      flags.set(spec.name, true);
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      i += 1;
    }
    if (value === undefined || value === '') throw new UsageError(`--${spec.name} needs a value`);
    if (flags.has(spec.name)) throw new UsageError(`--${spec.name} given twice`);
    flags.set(spec.name, value);
  }
  return { flags, positional };
}
