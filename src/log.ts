import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** Pretty output for humans on a terminal; JSON lines otherwise. */
  pretty?: boolean;
  /**
   * Operator-facing JSON: `time` as ISO-8601 and `level` as its name
   * ("info"), as `moonwatch serve` logs. Off: pino's epoch ms and numbers.
   */
  iso?: boolean;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  if (opts.pretty) {
    return pino({ level, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:standard' } } });
  }
  const out = new TurnBufferedStdout();
  if (opts.iso === true) {
    return pino({ level, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } }, out);
  }
  return pino({ level }, out);
}

/**
 * Standard output for the JSON log, written once per event-loop turn rather
 * than once per line. At a thousand sessions a second, a write() per line cost
 * more than building the lines (about 20 µs a write on the benchmark VM); the
 * lines of one turn now go out in one write before the loop next waits, so
 * nothing lingers in the buffer while the server is idle. `logger.flush()`
 * writes what is pending at once (before exit). The writes themselves are
 * pino's synchronous destination, which retries a full pipe.
 */
class TurnBufferedStdout {
  private readonly dest = pino.destination({ dest: 1, sync: true });
  private pending: string[] = [];
  private scheduled = false;
  private readonly flushNow = (): void => {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const text = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
    this.pending = [];
    this.dest.write(text);
  };

  write(line: string): boolean {
    this.pending.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushNow);
    }
    return true;
  }

  /** Called by pino's logger.flush(). */
  flush(cb?: (err?: Error) => void): void {
    this.flushNow();
    cb?.();
  }
}

/** A parsed pino line. */
export interface LogRecord {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/**
 * A real pino logger whose lines are kept in memory, so tests and the fixture
 * harness can assert on exactly what was logged (and scripts' print output).
 */
export function captureLogger(level = 'debug'): { logger: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') records.push(JSON.parse(line) as LogRecord);
      }
      done();
    },
  });
  // sync: a pino destination that is a plain Writable is written synchronously,
  // so a record is visible as soon as the call that logged it returns.
  const logger = pino({ level }, sink);
  return { logger, records };
}

export const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
