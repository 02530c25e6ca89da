/** A temp directory with policy scripts and fixture files, for harness tests. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runFixtureFile, type RunOptions } from '../../src/harness/runner.ts';
import type { FixtureResult } from '../../src/harness/result.ts';

export interface Workspace {
  readonly dir: string;
  write(rel: string, text: string): string;
  /** Writes `fixture.yaml` (or `name`) and runs it. */
  run(yaml: string, opts?: RunOptions & { name?: string }): Promise<FixtureResult>;
  remove(): void;
}

export function workspace(scripts: Record<string, string> = {}): Workspace {
  const dir = mkdtempSync(join(tmpdir(), 'mw-harness-'));
  const write = (rel: string, text: string): string => {
    const path = join(dir, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    return path;
  };
  for (const [name, source] of Object.entries(scripts)) write(`policies/${name}.lua`, source);
  return {
    dir,
    write,
    run: (yaml, opts = {}) => runFixtureFile(write(opts.name ?? 'fixture.yaml', yaml), opts),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The head of a fixture using the policies directory (relative to the fixture) with the given modules. */
export function head(modules: string[], start = '2025-03-03T10:00:00Z', scripts = './policies'): string {
  return `policy:\n  scripts: ${scripts}\n  modules: [${modules.join(', ')}]\nstart: ${start}\nsteps:\n`;
}

/** A policy module: refuses connections above `limit` in windows 0..5 of "300,6", 550s nobody@. */
export const GATE = `
local gate = {}
function gate:validate_connect(ac, vctx)
  local n = msys.audit.connections("300,6", { startv = 0, endv = 5 })
  if n > 3 then
    vctx:set_code(421, "4.7.0 Too many connections (" .. n .. ")")
    vctx.disconnect = 1
    return msys.core.VALIDATE_DONE
  end
  return msys.core.VALIDATE_CONT
end
function gate:validate_rcptto(msg, rcpt, ac, vctx)
  if tostring(rcpt) == "nobody@example.test" then
    vctx:set_code(550, "5.1.1 No such user")
    return msys.core.VALIDATE_DONE
  end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("gate", gate)
`;
