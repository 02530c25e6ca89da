import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { captureLogger } from '../../src/log.ts';
import type { AcceptedMessage } from '../../src/policy/session-api.ts';
import { MaildirSink, nodeMaildirFs, type MaildirFs } from '../../src/smtp/maildir-sink.ts';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mw-maildir-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const message = (raw: string): AcceptedMessage => ({
  sessionId: '1.7',
  mailFrom: 'a@sender.example',
  recipients: ['alice@example.test'],
  raw: Buffer.from(raw),
});

async function sink(fs?: MaildirFs, hostname = 'mx.example'): Promise<{ sink: MaildirSink; records: ReturnType<typeof captureLogger>['records'] }> {
  const { logger, records } = captureLogger();
  const s = new MaildirSink({ path: join(dir, 'md'), clock: new ManualClock(1_700_000_000_123), logger, hostname, ...(fs ? { fs } : {}) });
  await s.open();
  return { sink: s, records };
}

const ls = (sub: string) => readdirSync(join(dir, 'md', sub));

/** Real filesystem underneath, recording every call; `fail` injects an error at one step. */
function recordingFs(calls: string[], fail?: { step: string; code: string }): MaildirFs {
  const boom = (step: string): void => {
    if (fail?.step === step) throw Object.assign(new Error(`${fail.code}: injected at ${step}`), { code: fail.code });
  };
  return {
    async open(path, flags, mode) {
      const isDir = flags === 'r';
      calls.push(isDir ? 'open-dir' : 'open-tmp');
      boom(isDir ? 'open-dir' : 'open-tmp');
      const h = await nodeMaildirFs.open(path, flags, mode);
      return {
        async writeFile(data) {
          calls.push('write');
          boom('write');
          await h.writeFile(data);
        },
        async sync() {
          calls.push(isDir ? 'fsync-dir' : 'fsync');
          boom(isDir ? 'fsync-dir' : 'fsync');
          await h.sync();
        },
        async close() {
          calls.push(isDir ? 'close-dir' : 'close');
          await h.close();
        },
      };
    },
    async rename(from, to) {
      calls.push('rename');
      boom('rename');
      await nodeMaildirFs.rename(from, to);
    },
    unlink: (p) => {
      calls.push('unlink');
      return nodeMaildirFs.unlink(p);
    },
    mkdir: (p, o) => nodeMaildirFs.mkdir(p, o),
  };
}

describe('maildir sink', () => {
  it('creates tmp/, new/ and cur/ and stores the exact bytes in new/, leaving tmp/ empty', async () => {
    const { sink: s } = await sink();
    expect(ls('tmp')).toEqual([]);
    expect(ls('cur')).toEqual([]);
    const raw = 'Subject: hi\r\n\r\nbody\r\n';
    const name = await s.deliver(message(raw));
    expect(ls('new')).toEqual([name]);
    expect(ls('tmp')).toEqual([]);
    expect(readFileSync(join(dir, 'md', 'new', name), 'utf8')).toBe(raw);
    expect(name).toMatch(new RegExp(`^1700000000\\.M123000P${process.pid}Q1R[0-9a-f]{8}\\.mx\\.example,S=${raw.length}$`));
  });

  it('writes to tmp/, fsyncs, renames into new/ and fsyncs new/ — in that order', async () => {
    const calls: string[] = [];
    const { sink: s } = await sink(recordingFs(calls));
    await s.deliver(message('x\r\n'));
    expect(calls).toEqual(['open-tmp', 'write', 'fsync', 'close', 'rename', 'open-dir', 'fsync-dir', 'close-dir']);
  });

  it('gives every message its own file, also when delivered concurrently', async () => {
    const { sink: s } = await sink();
    const names = await Promise.all(Array.from({ length: 40 }, (_, i) => s.deliver(message(`n=${i}\r\n`))));
    expect(new Set(names).size).toBe(40);
    expect(ls('new').sort()).toEqual([...names].sort());
  });

  it('escapes / and : of the hostname, which a maildir name cannot hold', async () => {
    const { sink: s } = await sink(undefined, 'host:25/x');
    const name = await s.deliver(message('x\r\n'));
    expect(name).toContain('.host\\07225\\057x,');
  });

  for (const step of ['write', 'fsync', 'rename']) {
    it(`leaves nothing behind and fails with MW_ERR_MAILDIR_WRITE when ${step} fails`, async () => {
      const calls: string[] = [];
      const { sink: s, records } = await sink(recordingFs(calls, { step, code: 'EIO' }));
      await expect(s.deliver(message('x\r\n'))).rejects.toMatchObject({ code: 'MW_ERR_MAILDIR_WRITE' });
      expect(ls('new')).toEqual([]);
      expect(ls('tmp')).toEqual([]);
      expect(calls).toContain('unlink');
      expect(records.some((r) => r.msg === 'maildir write failed' && r.stage === step)).toBe(true);
    });
  }

  it('does not acknowledge when new/ cannot be fsynced, and takes the file back out of new/', async () => {
    const calls: string[] = [];
    const { sink: s } = await sink(recordingFs(calls, { step: 'fsync-dir', code: 'EIO' }));
    await expect(s.deliver(message('x\r\n'))).rejects.toMatchObject({ code: 'MW_ERR_MAILDIR_WRITE' });
    expect(ls('new')).toEqual([]);
    expect(ls('tmp')).toEqual([]);
  });

  it('refuses to open when the maildir path is a file', async () => {
    writeFileSync(join(dir, 'md'), 'not a directory');
    const { logger } = captureLogger();
    const s = new MaildirSink({ path: join(dir, 'md'), clock: new ManualClock(0), logger, hostname: 'h' });
    await expect(s.open()).rejects.toMatchObject({ code: 'MW_ERR_MAILDIR_WRITE' });
  });
});
