import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MessageScanner, readMessage } from '../../src/smtp/message-reader.ts';

const limits = { maxBytes: 1000, maxLineLength: 50 };

function scan(chunks: string[], l = limits) {
  const s = new MessageScanner(l);
  for (const c of chunks) s.push(Buffer.from(c, 'latin1'));
  return s.end();
}

describe('DATA scanner', () => {
  it('returns the exact bytes of a clean message', () => {
    const r = scan(['Subject: a\r\n', '\r\nbody\r\n']);
    expect(r).toEqual({ ok: true, raw: Buffer.from('Subject: a\r\n\r\nbody\r\n') });
  });

  it('accepts a CRLF split across two chunks', () => {
    expect(scan(['line one\r', '\nline two\r\n']).ok).toBe(true);
  });

  it('refuses a bare LF, including the <LF>.<CR><LF> smuggling sequence', () => {
    expect(scan(['a\nb\r\n'])).toMatchObject({ ok: false, violation: 'bare-lf' });
    expect(scan(['hello\n.\r\nMAIL FROM:<x@y>\r\n'])).toMatchObject({ ok: false, violation: 'bare-lf' });
    expect(scan(['hello', '\n'])).toMatchObject({ ok: false, violation: 'bare-lf' });
  });

  it('refuses a bare CR in the middle, at a chunk end, and at the very end', () => {
    expect(scan(['a\r.\rb\r\n'])).toMatchObject({ ok: false, violation: 'bare-cr' });
    expect(scan(['a\r', 'b\r\n'])).toMatchObject({ ok: false, violation: 'bare-cr' });
    expect(scan(['a\r\nb\r'])).toMatchObject({ ok: false, violation: 'bare-cr' });
  });

  it('refuses a line longer than the limit (CRLF included), also when it spans chunks', () => {
    expect(scan([`${'x'.repeat(48)}\r\n`]).ok).toBe(true);
    expect(scan([`${'x'.repeat(49)}\r\n`])).toMatchObject({ ok: false, violation: 'line-length' });
    expect(scan(['x'.repeat(30), 'x'.repeat(30), '\r\n'])).toMatchObject({ ok: false, violation: 'line-length' });
  });

  it('puts a prefix in front of a good message, and never asks for it for a refused one', () => {
    const good = new MessageScanner(limits);
    good.push(Buffer.from('a: b\r\n\r\n'));
    good.push(Buffer.from('c\r\n'));
    expect(good.end(() => Buffer.from('Received: x\r\n'))).toEqual({ ok: true, raw: Buffer.from('Received: x\r\na: b\r\n\r\nc\r\n') });
    const bad = new MessageScanner(limits);
    bad.push(Buffer.from('a\nb\r\n'));
    let asked = 0;
    expect(bad.end(() => Buffer.from(String(++asked)))).toMatchObject({ ok: false, violation: 'bare-lf' });
    expect(asked).toBe(0);
  });

  it('refuses a message over the size limit and stops keeping its bytes', () => {
    const s = new MessageScanner({ maxBytes: 100, maxLineLength: 1000 });
    for (let i = 0; i < 20; i++) s.push(Buffer.from('0123456789\r\n'));
    expect(s.end()).toEqual({ ok: false, violation: 'size', bytes: 240 });
  });

  it('reads a whole stream and reports a stream that breaks off as aborted', async () => {
    const ok = new PassThrough();
    const p = readMessage(ok, limits);
    ok.end('a: b\r\n\r\nc\r\n');
    expect(await p).toMatchObject({ ok: true });
    const broken = new PassThrough();
    const q = readMessage(broken, limits);
    broken.write('partial');
    broken.destroy(new Error('gone'));
    expect(await q).toMatchObject({ ok: false, violation: 'aborted' });
  });
});
