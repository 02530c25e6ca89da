import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.ts';
import { parseConfig } from '../../src/config/load.ts';
import { engineOptionsFrom } from '../../src/config/schema.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { ManualClock } from '../../src/clock.ts';
import { captureLogger } from '../../src/log.ts';
import { PHASES } from '../../src/policy/phases.ts';
import { SIEVE_PHASES } from '../../src/sieve/config.ts';

let dir: string;
let file: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mw-sieve-config-'));
  mkdirSync(join(dir, 'policies'));
  file = join(dir, 'moonwatch.yaml');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = (sieve: string[], modules = '[gate]') =>
  parseConfig(['listen: ["127.0.0.1:2525"]', 'scripts:', '  dir: policies', `  modules: ${modules}`, '  sieve:', ...sieve.map((l) => `    ${l}`)].join('\n'), file);

function failure(sieve: string[]): ConfigError {
  try {
    config(sieve);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('scripts.sieve', () => {
  it('names the policy phases Sieve runs at: every phase but dealloc and the Lua-only Momentum hooks', () => {
    // The recipient-list, final-validation, binding and post-message hooks are Lua callouts of the compat pack (docs/compat.md).
    const luaOnly = ['dealloc', 'rcpt_list', 'rcpt_list_final', 'post_each_rcpt', 'set_binding', 'final_validation'];
    expect([...SIEVE_PHASES]).toEqual(PHASES.map((p) => p.name).filter((n) => !luaOnly.includes(n)));
  });

  it('maps phases (ours or Momentum\'s *_phase1 names) to .siv files and reaches the engine options', () => {
    const cfg = config(['connect: [limits.siv]', 'connect_phase1: [more.siv]', 'rcptto: dha.siv', 'spool_phase1: [spool.siv]', 'runtime_error: continue']);
    expect(cfg.scripts.sieve).toEqual({
      phases: { connect: ['limits.siv', 'more.siv'], rcptto: ['dha.siv'], data_spool: ['spool.siv'] },
      runtimeError: 'continue',
    });
    const clock = new ManualClock(0);
    const { logger } = captureLogger();
    const store = new AuditStore({ clock, logger, monitors: [] });
    expect(engineOptionsFrom(cfg, { clock, logger, store }).scripts.sieve).toEqual(cfg.scripts.sieve);
  });

  it('runtime_error defaults to fail; a Sieve-only policy may list no Lua modules', () => {
    expect(config(['connect: [a.siv]'], '[]').scripts).toMatchObject({ modules: [], sieve: { runtimeError: 'fail' } });
  });

  it.each([
    [['conect: [a.siv]'], 'scripts.sieve.conect: unknown setting (expected one of: accept, connect, ehlo'],
    [['connect: [a.lua]'], 'scripts.sieve.connect[0]: "a.lua": a Sieve script file name ends in .siv'],
    [['connect: [../a.siv]'], 'scripts.sieve.connect[0]: "../a.siv" is not a file path under scripts.dir'],
    [['connect: [a.siv, a.siv]'], 'scripts.sieve.connect[1]: "a.siv" is listed twice for the connect phase'],
    [['runtime_error: ignore'], 'scripts.sieve.runtime_error: must be one of fail, continue (got "ignore")'],
  ])('%j is refused: %s', (lines, message) => {
    expect(failure(lines).message).toContain(message);
  });
});
