import { describe, expect, it } from 'vitest';
import * as api from '../src/index.ts';
import * as harness from '../src/harness/index.ts';

describe('the public API', () => {
  it('exports the engine, store, config, SMTP front, console and harness by name', () => {
    const exported = api as Record<string, unknown>;
    for (const name of ['createEngine', 'AuditStore', 'parseAddress', 'parseCidr', 'ManualClock', 'ScriptFault', 'loadConfigFile',
      'startSmtpServer', 'createSink', 'runConsoleLine', 'ControlServer', 'SeriesPersistence', 'writeFileAtomic']) {
      expect(typeof exported[name], name).toBe('function');
    }
    expect(api.PHASES.map((p) => p.name)).toEqual([
      'accept', 'connect', 'ehlo', 'mailfrom', 'rcptto', 'data', 'data_spool',
      'rcpt_list', 'rcpt_list_final', 'each_rcpt', 'post_each_rcpt', 'set_binding', 'final_validation', 'dealloc',
    ]);
    expect(typeof harness.runFixture).toBe('function');
    expect(typeof harness.runFixtureFile).toBe('function');
  });
});
