import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MESSAGE } from './lib/policies.ts';
import { startTestServer, type TestServer } from './lib/server-harness.ts';

const policy = (version: number): string => `
require("msys.core")
require("msys.audit")
require("msys.extended.vctx")
local p = {}
function p:validate_connect(ac, vctx)
  if msys.audit.connections("60,10") > 1000 then
    vctx:disconnect(421, "4.7.0 too many")
    return msys.core.VALIDATE_DONE
  end
  return msys.core.VALIDATE_CONT
end
function p:validate_mailfrom(str, ac, vctx)
  vctx:set_code(250, "2.1.0 Sender ok (policy v${version})")
  return msys.core.VALIDATE_DONE
end
msys.registerModule("gate", p)
`;

let srv: TestServer;

beforeAll(async () => {
  srv = await startTestServer({ scripts: { gate: policy(1) }, ipv4Only: true });
});

afterAll(async () => {
  await srv.stop();
});

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Outcome {
  ip: string;
  mail: string;
  data: number | undefined;
  quit: number;
}

/**
 * One full session. With `gate`, the session stops after EHLO until the gate
 * opens, so the test can reload while it is certainly in flight.
 */
async function fullSession(i: number, hooks: { greeted?: () => void; gate?: Promise<void> } = {}): Promise<Outcome> {
  const ip = `127.0.${9 + Math.floor(i / 250)}.${(i % 250) + 1}`;
  const { client, greeting } = await srv.connect({ localAddress: ip });
  expect(greeting.code).toBe(220);
  await client.command('EHLO load.example');
  hooks.greeted?.();
  if (hooks.gate) await hooks.gate;
  await pause((i % 7) * 10);
  const mail = await client.command('MAIL FROM:<load@sender.example>');
  await client.command('RCPT TO:<alice@example.test>');
  await pause((i % 5) * 10);
  const { final } = await client.data(MESSAGE);
  const quit = await client.quit();
  return { ip, mail: mail.lines[0]!, data: final?.code, quit: quit.code };
}

/** Starts `n` sessions held after EHLO; resolves once all of them are there. */
async function inFlight(first: number, n: number): Promise<{ open: () => void; done: Promise<Outcome[]> }> {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let greeted = 0;
  let allGreeted!: () => void;
  const ready = new Promise<void>((r) => (allGreeted = r));
  const done = Promise.all(
    Array.from({ length: n }, (_, k) =>
      fullSession(first + k, {
        gate,
        greeted: () => {
          if (++greeted === n) allGreeted();
        },
      }),
    ),
  );
  await ready;
  return { open, done };
}

describe('hot reload under load', () => {
  it('drops nothing: 200 concurrent sessions across a reload all complete, each on the generation it started with', async () => {
    const before = await inFlight(0, 100);
    writeFileSync(join(srv.dir, 'scripts', 'gate.lua'), policy(2));
    const reloaded = await srv.engine.reload('test');
    expect(reloaded).toMatchObject({ ok: true, generation: 2 });
    // 100 sessions on the old generation are mid-transaction; 100 new ones start on the new one.
    before.open();
    const after = Array.from({ length: 100 }, (_, i) => fullSession(100 + i));
    const outcomes = [...(await before.done), ...(await Promise.all(after))];

    expect(outcomes.filter((o) => o.data === 250 && o.quit === 221)).toHaveLength(200);
    expect(srv.count('receptions', '127.0.9.0/24')).toBe(200);
    expect(srv.count('rejections', '127.0.9.0/24')).toBe(0);
    // A session runs every phase on the generation it was pinned to at connect.
    expect(outcomes.slice(0, 100).every((o) => o.mail === '250 2.1.0 Sender ok (policy v1)')).toBe(true);
    expect(outcomes.slice(100).every((o) => o.mail === '250 2.1.0 Sender ok (policy v2)')).toBe(true);

    await srv.settled();
    // The old generation is released once its last session closed.
    expect(srv.engine.status()).toMatchObject({ generation: 2, openSessions: 0, liveGenerations: 1 });
    expect(srv.gauge('127.0.9.0/24')).toBe(0);
  });

  it('a broken save under load changes nothing: the reload fails, every session completes on the live generation', async () => {
    const live = srv.engine.status().generation;
    const batch = await inFlight(200, 50);
    writeFileSync(join(srv.dir, 'scripts', 'gate.lua'), 'local broken = = 1\n');
    const result = await srv.engine.reload('test');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.code).toBe('MW_ERR_SCRIPT_LOAD');
    batch.open();
    const more = Array.from({ length: 50 }, (_, i) => fullSession(250 + i));
    const outcomes = [...(await batch.done), ...(await Promise.all(more))];
    expect(outcomes.every((o) => o.data === 250 && o.quit === 221)).toBe(true);
    expect(outcomes.every((o) => o.mail === `250 2.1.0 Sender ok (policy v${live})`)).toBe(true);
    expect(srv.engine.status()).toMatchObject({ generation: live });
    expect(srv.engine.status().lastReloadError).toContain('gate.lua');
  });
});
