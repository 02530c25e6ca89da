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
  const out = new BufferedStdout();
  if (opts.iso === true) {
    return pino({ level, timestamp: isoTimestamp(Date.now), formatters: { level: (label) => ({ level: label }) } }, out);
  }
  return pino({ level }, out);
}

/**
 * Standard output for the JSON log, written in batches rather than once per
 * line: at most FLUSH_MS after the first pending line, or at once when
 * FLUSH_BYTES are pending. At a thousand sessions a second a write() per line
 * cost more than building the lines (about 20 µs a write on the benchmark VM),
 * and even a write per event-loop turn was about one per session under load.
 * At 10 ms the writes of 2,000 sessions a second at info (one line each) were
 * still about 40% of the line's cost in a profile; 50 ms makes them a fifth as
 * many, and a line still reaches the log well within a second.
 * `logger.flush()` writes what is pending at once (serve calls it before
 * exit). The writes themselves are pino's synchronous destination, which
 * retries a full pipe.
 */
class BufferedStdout {
  private readonly dest = pino.destination({ dest: 1, sync: true });
  private pending: string[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly flushNow = (): void => {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const text = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
    this.pending = [];
    this.bytes = 0;
    this.dest.write(text);
  };

  write(line: string): boolean {
    this.pending.push(line);
    this.bytes += line.length;
    if (this.bytes >= FLUSH_BYTES) this.flushNow();
    // Not unref'd: a process that ends on its own still writes its last lines.
    else this.timer ??= setTimeout(this.flushNow, FLUSH_MS);
    return true;
  }

  /** Called by pino's logger.flush(). */
  flush(cb?: (err?: Error) => void): void {
    this.flushNow();
    cb?.();
  }
}

/** How long a log line may wait for others to share its write. */
const FLUSH_MS = 50;
/** Pending log text that is written at once, whatever its age. */
const FLUSH_BYTES = 64 * 1024;

/**
 * pino's `time` field as ISO-8601, the text of pino.stdTimeFunctions.isoTime,
 * with the part up to the second made once a second. Formatting a Date for
 * every line took about 1.5 µs of the session's one line at info in a profile
 * of `moonwatch serve` at 500 clients (in a loop: pino's 0.53–0.81 µs a call,
 * this 0.06–0.08 µs).
 */
export function isoTimestamp(now: () => number): () => string {
  let second = NaN;
  let head = '';
  return () => {
    const ms = now();
    const s = Math.floor(ms / 1000);
    if (s !== second) {
      second = s;
      // "2026-12-06T11:42:14." of "2026-12-06T11:42:14.000Z"
      head = `,"time":"${new Date(s * 1000).toISOString().slice(0, -4)}`;
    }
    const frac = ms - s * 1000;
    return `${head}${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}Z"`;
  };
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
