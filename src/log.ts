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
  if (opts.iso === true) {
    return pino({ level, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } });
  }
  return pino({ level });
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
