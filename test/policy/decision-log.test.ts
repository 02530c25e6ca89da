/**
 * The one line that explains a decision: which module set the reply (not
 * just the last one that ran), what it read from the store, and nothing
 * extra for a phase that continued. A tarpit and a disconnect at connect are
 * decisions too; an observer sees every phase with the deciding module.
 */
import { describe, expect, it } from 'vitest';
import type { PhaseName, PhaseSpec } from '../../src/policy/phases.ts';
import type { Verdict } from '../../src/policy/verdict.ts';
import { testEngine } from '../helpers/engine.ts';

const FIRST = `
require("msys.core")
local m = {}
function m:validate_connect(ac, vctx)
  if msys.audit.connections("300,6") > 2 then
    vctx:set_code(421, "4.7.0 Slow down")
    vctx.disconnect = 1
    return msys.core.VALIDATE_DONE
  end
  return msys.core.VALIDATE_CONT
end
function m:validate_mailfrom(str, ac, vctx)
  vctx:tarpit(2)
  return msys.core.VALIDATE_CONT
end
function m:validate_rcptto(msg, rcpt, ac, vctx)
  local n = msys.audit.rejections("300,6", { startv = 0, endv = 5, cidr = "/24" })
  if tostring(rcpt) == "nobody@example.test" then
    vctx:set_code(550, "5.1.1 No such user")
  end
  return msys.core.VALIDATE_CONT
end
msys.registerModule("first", m)
`;
const SECOND = `
require("msys.core")
local m = {}
function m:validate_rcptto(msg, rcpt, ac, vctx)
  return msys.core.VALIDATE_CONT
end
msys.registerModule("second", m)
`;

describe('the decision line', () => {
  it('names the module that set the reply even when a later one ran, with the reads of that phase', async () => {
    const seen: [PhaseName, string, string | undefined][] = [];
    const t = await testEngine({
      scripts: { 'first.lua': FIRST, 'second.lua': SECOND },
      overrides: { observer: { phase: (p: PhaseSpec, v: Verdict, m: string | undefined) => void seen.push([p.name, v.action, m]), fault: () => undefined } },
    });
    const s = t.engine.openSession({ remote: { address: '192.0.2.7', port: 4000 } });
    await s.connect();
    await s.ehlo('client.example');
    const mail = await s.mailFrom('<a@sender.example>');
    expect(mail).toMatchObject({ action: 'continue', tarpitMs: 2000 });
    const r = await s.rcptTo('<nobody@example.test>');
    expect(r).toMatchObject({ action: 'reject', code: 550 });
    await s.rcptTo('<alice@example.test>');
    s.close('quit');

    const lines = t.records.filter((l) => l.msg === 'phase decision');
    const tarpit = lines.find((l) => l.phase === 'mailfrom')!;
    expect(tarpit.decision).toBe('tarpit: MAIL from unknown[192.0.2.7]: from=<a@sender.example> helo=<client.example> module=first tarpit=2s generation=1');
    const reject = lines.find((l) => l.phase === 'rcptto' && l.verdict === 'reject')!;
    expect(reject).toMatchObject({
      decision: 'reject: RCPT from unknown[192.0.2.7]: 550 5.1.1 No such user; from=<a@sender.example> to=<nobody@example.test> helo=<client.example> module=first generation=1',
      module: 'first',
      recipient: 'nobody@example.test',
      audit_reads: [{ fn: 'msys.audit.rejections', monitor: '300,6', block: '192.0.2.0/24', windows: '0..5', value: 0 }],
    });
    // A phase that continued says nothing more than before.
    const ok = lines.find((l) => l.phase === 'rcptto' && l.verdict === 'continue')!;
    expect(ok.decision).toBeUndefined();
    expect(ok.audit_reads).toBeUndefined();
    expect(seen).toContainEqual(['rcptto', 'reject', 'first']);
    expect(seen).toContainEqual(['rcptto', 'continue', undefined]);
  });

  it('explains a disconnect at connect, where there is no sender or HELO yet', async () => {
    const t = await testEngine({ scripts: { 'first.lua': FIRST } });
    for (let i = 0; i < 3; i++) t.engine.openSession({ remote: { address: '192.0.2.9', port: 4000 + i } }).close('quit');
    const s = t.engine.openSession({ remote: { address: '192.0.2.9', port: 4100 } });
    expect(await s.connect()).toMatchObject({ action: 'disconnect', code: 421 });
    s.close('disconnect');
    const line = t.records.find((l) => l.msg === 'phase decision' && l.verdict === 'disconnect')!;
    expect(line.decision).toBe('disconnect: CONNECT from unknown[192.0.2.9]: 421 4.7.0 Slow down; module=first generation=1');
    expect(line.audit_reads).toEqual([{ fn: 'msys.audit.connections', monitor: '300,6', block: '192.0.2.9/32', windows: '0..0', value: 4 }]);
    expect(line).not.toHaveProperty('sender');
    expect(line).not.toHaveProperty('helo');
  });

  it('names the client by the host name the front knows (XCLIENT NAME), as Postfix does', async () => {
    const t = await testEngine({ scripts: { 'first.lua': FIRST } });
    for (let i = 0; i < 3; i++) t.engine.openSession({ remote: { address: '192.0.2.9', port: 4000 + i } }).close('quit');
    const s = t.engine.openSession({ remote: { address: '192.0.2.9', port: 4100 }, clientName: 'relay.sender.example' });
    expect(await s.connect()).toMatchObject({ action: 'disconnect', code: 421 });
    s.close('disconnect');
    const line = t.records.find((l) => l.msg === 'phase decision' && l.verdict === 'disconnect')!;
    expect(line.decision).toBe('disconnect: CONNECT from relay.sender.example[192.0.2.9]: 421 4.7.0 Slow down; module=first generation=1');
    expect(line.client).toBe('relay.sender.example[192.0.2.9]');
  });
});
