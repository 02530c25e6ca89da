import { MoonwatchError } from '../errors.ts';

/**
 * A config file that cannot be used. The server never starts on one, and the
 * message always says where to look: "file:line: setting: problem".
 */
export class ConfigError extends MoonwatchError {
  readonly file: string;
  /** 1-based; 0 when the problem is the file as a whole (unreadable, empty). */
  readonly line: number;
  /** Dotted path of the setting in the file's own spelling, e.g. "limits.max_errors". */
  readonly setting: string;
  readonly problem: string;

  constructor(file: string, line: number, setting: string, problem: string, options?: { cause?: unknown }) {
    super('MW_ERR_CONFIG', `${file}${line > 0 ? `:${line}` : ''}: ${setting === '' ? '' : `${setting}: `}${problem}`, options);
    this.file = file;
    this.line = line;
    this.setting = setting;
    this.problem = problem;
  }
}
