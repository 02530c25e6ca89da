import { MoonwatchError } from '../errors.ts';

/** A console command that cannot run as given: the console prints `Error: <message>`. */
export class ConsoleCommandError extends MoonwatchError {
  constructor(message: string) {
    super('MW_ERR_CONSOLE_COMMAND', message);
  }
}

/** The control socket could not be set up (path in use by a live server, bad address…). */
export class ControlSocketError extends MoonwatchError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MW_ERR_CONTROL_SOCKET', message, options);
  }
}

/** The console client could not reach or talk to the server. */
export class ConsoleClientError extends MoonwatchError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MW_ERR_CONSOLE_CLIENT', message, options);
  }
}
