/**
 * The library's command parser accepts a bare LF as a line end. A command
 * stream with bare LFs is how SMTP smuggling probes start (the same bytes mean
 * different things to us and to a laxer hop), so outside DATA a bare LF is an
 * error that ends the session; inside DATA the message reader refuses it.
 */
import { SMTPStream, type SMTPStreamOptions } from 'smtp-server/lib/smtp-stream.js';
import { MoonwatchError } from '../errors.ts';

export class BareLineFeedError extends MoonwatchError {
  constructor() {
    super('MW_ERR_SMTP_BARE_LF', 'bare <LF> received');
  }
}

export class StrictSmtpStream extends SMTPStream {
  /** Last byte seen, so a CRLF split across two reads is not mistaken for a bare LF. */
  private lastByte = -1;

  constructor(options?: SMTPStreamOptions) {
    super(options);
  }

  /**
   * Bytes of the input being parsed that come after the command now being
   * handled (the connection subtracts each command line as it is emitted):
   * more than zero at DATA means the client sent message data before our 354.
   */
  inputLeft = 0;

  override _write(chunk: Buffer, encoding: BufferEncoding | 'buffer', next: (err?: Error | null) => void): void {
    if (!this._dataMode) this.inputLeft = this._remainder.length + chunk.length;
    if (!this._dataMode && !this.isClosed && chunk.length > 0) {
      let lf = chunk.indexOf(0x0a);
      while (lf !== -1) {
        const prev = lf > 0 ? chunk[lf - 1] : this.lastByte;
        if (prev !== 0x0d) {
          this.lastByte = chunk[chunk.length - 1]!;
          next(new BareLineFeedError());
          return;
        }
        lf = chunk.indexOf(0x0a, lf + 1);
      }
    }
    if (chunk.length > 0) this.lastByte = chunk[chunk.length - 1]!;
    super._write(chunk, encoding, next);
  }
}
