/**
 * Where the operator commands look for the config when no --config is given:
 * $MOONWATCH_CONFIG, then ./moonwatch.yaml, then /etc/moonwatch/moonwatch.yaml
 * (the path the systemd unit in examples/systemd uses). The first that exists
 * wins; none: the command says where it looked.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const SYSTEM_CONFIG = '/etc/moonwatch/moonwatch.yaml';

export function configCandidates(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string[] {
  const out: string[] = [];
  if (env.MOONWATCH_CONFIG !== undefined && env.MOONWATCH_CONFIG !== '') out.push(resolve(cwd, env.MOONWATCH_CONFIG));
  out.push(resolve(cwd, 'moonwatch.yaml'), SYSTEM_CONFIG);
  return out;
}

/** The default config file, or undefined with the places looked at. */
export function findDefaultConfig(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): { file?: string; looked: string[] } {
  const looked = configCandidates(env, cwd);
  const file = looked.find((f) => existsSync(f));
  return file === undefined ? { looked } : { file, looked };
}
