import { describe, expect, it } from 'vitest';
import { parseAddress } from '../../src/audit/address.ts';
import { isMoonwatchError } from '../../src/errors.ts';
import { LEVELS } from '../../src/log.ts';
import { logs, MESSAGE, runSession, testEngine } from '../helpers/engine.ts';
import { connect, sieveEngine } from './helpers.ts';

const LUA_TARPIT = {
  'lt.lua': `require("msys.core"); require("msys.extended.vctx")
local m = {}
function m:validate_connect(ac, vctx)
  vctx:tarpit(2)
  if string.find(tostring(ac.remote_addr), "192.0.2.99", 1, true) then vctx:set_code(554, "5.7.1 lua says no"); return msys.core.VALIDATE_DONE end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("lt", m)`,
};

describe('Sieve beside Lua in one phase', () => {
  it('runs the Lua modules first, then the Sieve scripts; tarpits add up across both', async () => {
    const t = await sieveEngine({ connect: ['ec_tarpit 3;', 'ec_tarpit 4;'] }, { lua: LUA_TARPIT });
    expect(await connect(t, '192.0.2.1')).toMatchObject({ action: 'continue', tarpitMs: 9000 });
  });

  it('a Lua VALIDATE_DONE ends the phase before the Sieve scripts run', async () => {
    const t = await sieveEngine({ connect: ['ec_action 550 "sieve";'] }, { lua: LUA_TARPIT });
    expect(await connect(t, '192.0.2.99')).toMatchObject({ action: 'reject', code: 554, enhanced: '5.7.1', text: 'lua says no', tarpitMs: 2000 });
  });

  it('a terminal Sieve action ends the phase: later scripts do not run', async () => {
    const t = await sieveEngine({ connect: ['ec_action 451 "4.7.1 first";', 'ec_action 550 "second";'] });
    expect(await connect(t, '192.0.2.1')).toMatchObject({ action: 'tempfail', code: 451, enhanced: '4.7.1', text: 'first' });
  });
});

describe('actions map to the verdicts Lua vctx produces', () => {
  it.each([
    ['ec_action 550 "5.7.1 No thanks" "counter";', { action: 'reject', code: 550, enhanced: '5.7.1', text: 'No thanks', tarpitMs: 0 }],
    ['ec_action "451" "Later";', { action: 'tempfail', code: 451, text: 'Later' }],
    ['ec_disconnect 421 "4.7.0 Bye";', { action: 'disconnect', code: 421, enhanced: '4.7.0', text: 'Bye' }],
    ['ec_tarpit 10; ec_tarpit 5 "x"; ec_disconnect 421 "slow bye";', { action: 'disconnect', code: 421, tarpitMs: 15000 }],
    ['reject "go away";', { action: 'reject', code: 550, text: 'go away' }],
    ['reject;', { action: 'reject', code: 550, text: 'Rejected by policy' }],
    ['keep;', { action: 'continue', tarpitMs: 0 }],
    ['ec_tarpit 1; stop; ec_action 550 "no";', { action: 'continue', tarpitMs: 1000 }],
  ])('%s', async (src, verdict) => {
    const t = await sieveEngine({ connect: [src] });
    expect(await connect(t, '192.0.2.1')).toMatchObject(verdict);
  });

  it('a rejection counts in the rejections metric, as for Lua', async () => {
    const t = await sieveEngine({ connect: ['reject "no";'] });
    await connect(t, '192.0.2.1');
    expect(t.store.count('rejections', '60,10', { addr: parseAddress('192.0.2.1'), prefix: 32 })).toBe(1);
    expect(logs(t.records, 'phase decision', LEVELS.info)[0]).toMatchObject({ phase: 'connect', verdict: 'reject', code: 550 });
  });

  it('runs at every phase: ehlo, mailfrom, rcptto (with the envelope), data', async () => {
    const t = await sieveEngine({
      ehlo: ['if ec_test :is "%{vctx_conn:ehlo_domain}" "bad.example" { reject "5.7.1 bad helo"; }'],
      mailfrom: ['if envelope :domain :is "from" "spam.example" { ec_action 550 "5.7.1 sender"; }'],
      rcptto: ['if envelope :localpart :is "to" "nobody" { ec_action 550 "5.1.1 unknown"; }'],
      data: ['if header :contains "Subject" "hello" { ec_action 554 "5.7.1 greeting spam"; }'],
    });
    expect((await runSession(t, '192.0.2.1', { ehlo: 'bad.example' })).verdicts['ehlo']).toMatchObject({ code: 550, text: 'bad helo' });
    expect((await runSession(t, '192.0.2.1', { ehlo: 'ok', mail: 'a@spam.example' })).verdicts['mail']).toMatchObject({ code: 550 });
    const r = await runSession(t, '192.0.2.1', { ehlo: 'ok', mail: 'a@ok.example', rcpts: ['nobody@x.test', 'b@x.test'], data: MESSAGE });
    expect(r.verdicts['rcpt0']).toMatchObject({ code: 550, text: 'unknown' });
    expect(r.verdicts['rcpt1']).toMatchObject({ action: 'continue' });
    expect(r.verdicts['data']).toMatchObject({ action: 'reject', code: 554, text: 'greeting spam' });
  });

  it('discard accepts the message and drops it (not delivered, not a reception)', async () => {
    const t = await sieveEngine({ rcptto: ['if envelope :is "to" "trap@x.test" { discard; }'], data: ['if header :is "Subject" "drop" { discard; }'] });
    const r1 = await runSession(t, '192.0.2.1', { mail: 'a@b.test', rcpts: ['trap@x.test'], data: MESSAGE });
    expect(r1.verdicts['data']).toMatchObject({ action: 'continue' });
    const r2 = await runSession(t, '192.0.2.1', { mail: 'a@b.test', rcpts: ['c@x.test'], data: MESSAGE.replace('hello', 'drop') });
    expect(r2.verdicts['data']).toMatchObject({ action: 'continue' });
    const r3 = await runSession(t, '192.0.2.1', { mail: 'a@b.test', rcpts: ['c@x.test'], data: MESSAGE });
    expect(r3.verdicts['data']).toMatchObject({ action: 'continue' });
    expect(t.delivered).toHaveLength(1);
    expect(t.store.count('receptions', '60,10', { addr: parseAddress('192.0.2.1'), prefix: 32 })).toBe(1);
  });
});

describe('runtime_error', () => {
  const failing = 'ec_tarpit 2;\n$n = ec_ip_connections "9";\nec_action 550 "reached ${n}";';

  it('fail (default): the phase answers the configured failure verdict and logs file:line', async () => {
    const t = await sieveEngine({ connect: [failing] });
    expect(await connect(t, '192.0.2.1')).toMatchObject({ action: 'tempfail', code: 451, enhanced: '4.3.0', fault: true });
    const line = logs(t.records, 'validate_connect error:', LEVELS.error)[0]!;
    expect(line).toMatchObject({ phase: 'connect', module: 'p0.siv', script: 'p0.siv', line: 2, fault: 'runtime', code: 'MW_ERR_SCRIPT_RUNTIME' });
    expect(line.msg).toMatch(/p0\.siv:2:6: ec_ip_connections: monitor index "9" is out of range/);
  });

  it('continue: the failing command yields "" and the script carries on, with a warning', async () => {
    const t = await sieveEngine({ connect: [failing] }, { runtimeError: 'continue' });
    expect(await connect(t, '192.0.2.1')).toMatchObject({ action: 'reject', code: 550, text: 'reached ', tarpitMs: 2000 });
    expect(logs(t.records, /sieve runtime error \(continuing\): p0\.siv:2:6/, LEVELS.warn)).toHaveLength(1);
  });

  it('continue: a failing test is false', async () => {
    const t = await sieveEngine({ connect: ['if ec_test :regex "a" "${nope}(" { ec_action 550 "yes"; } ec_action 550 "no";'] }, { runtimeError: 'continue' });
    expect((await connect(t, '192.0.2.1')).text).toBe('no');
  });
});

const gate = (code: number) => `ec_action ${code} "gate";\n`;

describe('generations: Sieve scripts load, reload and fail with the Lua modules', () => {
  it('a parse error stops the first build with file:line:col', async () => {
    await expect(sieveEngine({ connect: ['if true {'] })).rejects.toSatisfy(
      (err: unknown) => isMoonwatchError(err, 'MW_ERR_SCRIPT_LOAD') && /p0\.siv:1:10: expected "}" to close the block/.test((err as Error).message),
    );
  });

  it('a missing .siv file is a load error', async () => {
    const t = testEngine({ scripts: {}, modules: [], scriptOptions: { sieve: { phases: { connect: ['gone.siv'] }, runtimeError: 'fail' } } });
    await expect(t).rejects.toThrow(/gone\.siv: Sieve script not found/);
  });

  it('a broken save keeps the live generation; sessions stay pinned to theirs', async () => {
    const t = await sieveEngine({ connect: [gate(550)] });
    const pinned = t.engine.openSession({ remote: { address: '192.0.2.1', port: 1 } });
    t.write('p0.siv', gate(551));
    expect(await t.engine.reload()).toMatchObject({ ok: true, generation: 2 });
    expect(await pinned.connect()).toMatchObject({ code: 550 });
    pinned.close('quit');
    expect((await connect(t, '192.0.2.1')).code).toBe(551);
    t.write('p0.siv', 'ec_action 552 "gate"');
    const r = await t.engine.reload();
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error.message).toBe('p0.siv:1:21: expected ";" after the arguments of "ec_action", got the end of the script');
    expect(logs(t.records, 'reload failed; keeping the live generation', LEVELS.error)[0]).toMatchObject({ script: 'p0.siv', line: 1 });
    expect((await connect(t, '192.0.2.1')).code).toBe(551);
    expect(t.engine.status()).toMatchObject({ generation: 2, lastReloadError: expect.stringContaining('p0.siv:1:21') });
  });

  it('the watcher picks up a saved .siv file', async () => {
    const t = await sieveEngine({ connect: [gate(550)] });
    await t.engine.watch();
    try {
      t.write('p0.siv', gate(553));
      const deadline = Date.now() + 10_000;
      while (t.engine.status().generation === 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect((await connect(t, '192.0.2.1')).code).toBe(553);
    } finally {
      await t.engine.close();
    }
  });

  it('serves sessions while a .siv is rewritten 30 times, valid and broken in turn', async () => {
    const t = await sieveEngine({ connect: [gate(550)] });
    const versions = [() => gate(550), () => 'if true {', () => gate(553), () => '$n = ec_ip_connections "7";'];
    const seen = new Map<string, number>();
    for (let round = 0; round < 30; round++) {
      t.write('p0.siv', versions[round % versions.length]!() + `\n# round ${round}\n`);
      const reload = t.engine.reload(`round ${round}`);
      const verdicts = await Promise.all(Array.from({ length: 20 }, (_, i) => connect(t, `10.0.${round}.${i + 1}`)));
      await reload;
      for (const v of verdicts) {
        const key = `${v.action} ${v.code}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
        expect(['reject 550', 'reject 553', 'tempfail 451']).toContain(key);
      }
    }
    expect(seen.get('reject 553')).toBeGreaterThan(0);
    expect(seen.get('tempfail 451')).toBeGreaterThan(0);
    expect(t.engine.status()).toMatchObject({ openSessions: 0, liveGenerations: 1 });
  });
});
