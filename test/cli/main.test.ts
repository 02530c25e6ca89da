import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type MainIo } from '../../src/cli/main.ts';

function io(): { io: MainIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    io: {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
      // Failure paths never get as far as installing signal handlers.
      signals: { on: () => undefined, off: () => undefined },
    },
    out: () => out,
    err: () => err,
  };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mw-cli-'));
  mkdirSync(join(dir, 'scripts'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('moonwatch', () => {
  it('--help lists every command and exits 0', async () => {
    const t = io();
    expect(await main(['--help'], t.io)).toBe(0);
    for (const cmd of ['serve --config FILE', 'test [files…] [--watch]', 'console']) expect(t.out()).toContain(cmd);
  });

  it('without a command prints usage and exits 2', async () => {
    const t = io();
    expect(await main([], t.io)).toBe(2);
    expect(t.err()).toContain('usage: moonwatch');
  });

  it('asks the console for a server to talk to, exiting 2 without one', async () => {
    const t = io();
    expect(await main(['console'], t.io)).toBe(2);
    expect(t.err()).toContain('--socket PATH, --config FILE or --tcp HOST:PORT is required');
  });

  it('rejects an unknown command with exit 2', async () => {
    const t = io();
    expect(await main(['serv'], t.io)).toBe(2);
    expect(t.err()).toContain('unknown command "serv"');
  });
});

describe('moonwatch serve: usage and startup failures', () => {
  it('needs --config (exit 2) and rejects unknown options (exit 2)', async () => {
    const a = io();
    expect(await main(['serve'], a.io)).toBe(2);
    expect(a.err()).toContain('--config FILE is required');
    const b = io();
    expect(await main(['serve', '--config', 'x.yaml', '--port', '25'], b.io)).toBe(2);
    expect(b.err()).toContain('unknown option --port');
    const c = io();
    expect(await main(['serve', '--help'], c.io)).toBe(0);
    expect(c.out()).toContain('usage: moonwatch serve --config FILE');
  });

  it('does not start on a bad config and names file, line and setting (exit 1)', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, ['listen: ["127.0.0.1:0"]', 'scripts:', '  dir: scripts', '  modules: [gate]', 'limits:', '  max_conections: 5'].join('\n'));
    const t = io();
    expect(await main(['serve', '--config', file], t.io)).toBe(1);
    expect(t.err()).toContain(`${file}:6: limits.max_conections: unknown setting`);
  });

  it('does not start when the first script generation cannot be built (exit 1)', async () => {
    writeFileSync(join(dir, 'scripts', 'broken.lua'), 'local x = = 1\n');
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, ['listen: ["127.0.0.1:0"]', 'scripts:', '  dir: scripts', '  modules: [broken]', 'log: { level: silent }'].join('\n'));
    const t = io();
    expect(await main(['serve', '--config', file], t.io)).toBe(1);
    expect(t.err()).toContain('could not start');
    expect(t.err()).toContain('broken.lua:1');
  });

  it('does not start when a listen address is taken (exit 1)', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    writeFileSync(
      join(dir, 'scripts', 'ok.lua'),
      'local m = {}\nfunction m:validate_connect(ac, vctx) return msys.core.VALIDATE_CONT end\nmsys.registerModule("ok", m)\n',
    );
    const file = join(dir, 'taken.yaml');
    writeFileSync(file, [`listen: ["127.0.0.1:${port}"]`, 'scripts:', '  dir: scripts', '  modules: [ok]', '  hot_reload: false', 'log: { level: silent }'].join('\n'));
    const t = io();
    try {
      expect(await main(['serve', '--config', file], t.io)).toBe(1);
      expect(t.err()).toContain(`cannot listen on 127.0.0.1:${port}`);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });
});
