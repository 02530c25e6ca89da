/**
 * Maildir delivery: one file per message, written so that a reader of new/
 * never sees a partial message and a crash never loses an acknowledged one:
 * write into tmp/, fsync the file, rename into new/, fsync new/. Only then is
 * the message acknowledged (the caller answers 250 after deliver resolves).
 */
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { AcceptedMessage } from '../policy/session-api.ts';
import { MaildirWriteError } from './errors.ts';
import type { Sink } from './sink.ts';

/** The file handle operations the sink needs; a seam for fault injection (EIO, ENOSPC). */
export interface MaildirFileHandle {
  writeFile(data: Buffer): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface MaildirFs {
  open(path: string, flags: string, mode?: number): Promise<MaildirFileHandle>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  mkdir(path: string, opts: { recursive: true; mode?: number }): Promise<unknown>;
}

export const nodeMaildirFs: MaildirFs = {
  open: (path, flags, mode) => fsp.open(path, flags, mode),
  rename: (from, to) => fsp.rename(from, to),
  unlink: (path) => fsp.unlink(path),
  mkdir: (path, opts) => fsp.mkdir(path, opts),
};

export interface MaildirSinkOptions {
  readonly path: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Used in file names, as maildir asks. */
  readonly hostname: string;
  readonly fs?: MaildirFs;
}

export class MaildirSink implements Sink {
  readonly type = 'maildir';
  private readonly fs: MaildirFs;
  private readonly host: string;
  private seq = 0;
  /** Per process, so names from two runs in the same second never collide. */
  private readonly nonce = randomBytes(4).toString('hex');

  constructor(private readonly opts: MaildirSinkOptions) {
    this.fs = opts.fs ?? nodeMaildirFs;
    // "/" and ":" cannot appear in a maildir unique name (maildir spec).
    this.host = opts.hostname.replace(/\//g, '\\057').replace(/:/g, '\\072');
  }

  /** Creates tmp/, new/ and cur/ if needed. Fails (and the server does not start) when that is impossible. */
  async open(): Promise<void> {
    for (const sub of ['tmp', 'new', 'cur']) {
      try {
        await this.fs.mkdir(join(this.opts.path, sub), { recursive: true, mode: 0o700 });
      } catch (err) {
        throw new MaildirWriteError(`cannot create maildir ${join(this.opts.path, sub)}: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  /** Resolves with the file name in new/ once the message is durable. */
  async deliver(message: AcceptedMessage): Promise<string> {
    const name = this.uniqueName(message.raw.length);
    const tmp = join(this.opts.path, 'tmp', name);
    const dest = join(this.opts.path, 'new', name);
    let handle: MaildirFileHandle | undefined;
    let stage = 'create';
    try {
      handle = await this.fs.open(tmp, 'wx', 0o600);
      stage = 'write';
      await handle.writeFile(message.raw);
      stage = 'fsync';
      await handle.sync();
      stage = 'close';
      const h = handle;
      handle = undefined;
      await h.close();
      stage = 'rename';
      await this.fs.rename(tmp, dest);
    } catch (err) {
      if (handle !== undefined) await handle.close().catch(() => undefined);
      // Whatever happened, nothing half-written may stay behind.
      await this.fs.unlink(tmp).catch(() => undefined);
      this.opts.logger.error({ session: message.sessionId, stage, err: (err as Error).message }, 'maildir write failed');
      throw new MaildirWriteError(`maildir ${stage} failed for ${name}: ${(err as Error).message}`, { cause: err });
    }
    try {
      // The rename is only durable once the directory entry is on disk.
      const dir = await this.fs.open(join(this.opts.path, 'new'), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    } catch (err) {
      // The file is complete in new/ but its entry may not survive a crash: do
      // not acknowledge. A retry may deliver it twice, which maildir readers
      // tolerate far better than a lost message.
      await this.fs.unlink(dest).catch(() => undefined);
      this.opts.logger.error({ session: message.sessionId, stage: 'dirsync', err: (err as Error).message }, 'maildir write failed');
      throw new MaildirWriteError(`maildir directory fsync failed for ${name}: ${(err as Error).message}`, { cause: err });
    }
    return name;
  }

  async close(): Promise<void> {
    // Nothing is held open between deliveries.
  }

  private uniqueName(size: number): string {
    const ms = this.opts.clock.now();
    const sec = Math.floor(ms / 1000);
    const usec = (ms % 1000) * 1000;
    this.seq += 1;
    return `${sec}.M${usec}P${process.pid}Q${this.seq}R${this.nonce}.${this.host},S=${size}`;
  }
}
