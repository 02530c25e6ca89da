/**
 * The example whitelist keeps its networks in examples/policies/lists/trusted.txt
 * (msys.cidr, rbldnsd format): an operator edits the list, not the script, and
 * the running policy picks the edit up on its next query once the refresh
 * interval (60 s) has passed, without a reload.
 */
import { readFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { testEngine, type TestEngine } from '../helpers/engine.ts';

const SCRIPT = readFileSync('examples/policies/whitelist.lua', 'utf8');
const LIST = readFileSync('examples/policies/lists/trusted.txt', 'utf8');

let t: TestEngine | undefined;
afterEach(async () => {
  await t?.engine.close();
  t = undefined;
});

async function connectFrom(te: TestEngine, address: string): Promise<string[]> {
  const before = te.records.length;
  const s = te.engine.openSession({ remote: { address, port: 40000 } });
  const verdict = await s.connect();
  expect(verdict.action).toBe('continue');
  s.close('quit');
  return te.records.slice(before).map((r) => r.msg).filter((m) => m.startsWith('whitelist: '));
}

describe('the example whitelist reads its networks from lists/trusted.txt', () => {
  it('names the listed networks, IPv4 and IPv6, and nothing else', async () => {
    t = await testEngine({ scripts: { 'whitelist.lua': SCRIPT, 'lists/trusted.txt': LIST }, modules: ['whitelist'] });
    expect(await connectFrom(t, '192.0.2.15')).toEqual(['whitelist: 192.0.2.15 is monitoring probes']);
    expect(await connectFrom(t, '::ffff:198.51.100.9')).toEqual(['whitelist: 198.51.100.9 is partner relay']);
    expect(await connectFrom(t, '2001:db8:feed:1::25')).toEqual(['whitelist: 2001:db8:feed:1::25 is partner relay (IPv6)']);
    expect(await connectFrom(t, '192.0.2.16')).toEqual([]);
    expect(await connectFrom(t, '203.0.113.9')).toEqual([]);
  });

  it('picks up an edit to the list at the first query 60 s after the last check, without a reload', async () => {
    t = await testEngine({ scripts: { 'whitelist.lua': SCRIPT, 'lists/trusted.txt': LIST }, modules: ['whitelist'] });
    const generation = t.engine.status().generation;
    expect(await connectFrom(t, '203.0.113.9')).toEqual([]);

    t.write('lists/trusted.txt', `${LIST}203.0.113.0/24      test relay\n`);
    // A distinct modification time, whatever the file system's resolution.
    const file = join(t.dir, 'lists/trusted.txt');
    utimesSync(file, new Date(Date.now() + 5000), new Date(Date.now() + 5000));

    t.clock.advance(30_000);
    expect(await connectFrom(t, '203.0.113.9')).toEqual([]);
    t.clock.advance(31_000);
    expect(await connectFrom(t, '203.0.113.9')).toEqual(['whitelist: 203.0.113.9 is test relay']);
    expect(t.engine.status().generation).toBe(generation);
  });
});
