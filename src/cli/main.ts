/**
 * The `moonwatch` command: dispatches to serve, test and (later) console.
 * Exit codes: 0 ok, 1 failure, 2 usage.
 */
// Every command is loaded on demand: `moonwatch --help` must not load the
// engine, the Lua VM and pino (start-up time is a budget, see test/bench/cli.bench.ts).
import type { ServeIo } from './serve.ts';

export const USAGE = `usage: moonwatch <command> [options]

commands:
  serve --config FILE        run the SMTP listener with the policies of FILE (--strict: refuse unusable saved state)
  test [files…] [--watch]    run policy fixtures through the real engine on a virtual clock
  console [command…]         inbound_audit console of a running server (one command, or a prompt)
  check --config FILE        validate the config and compile every script without serving (exit 0/1)
  config --config FILE       print the effective config, defaults filled in, secrets masked

options:
  -h, --help                 show this help (also: moonwatch <command> --help)
  -v, --version              print the version

exit codes: 0 ok, 1 failure, 2 usage error
`;

export type MainIo = ServeIo;

export async function main(argv: readonly string[], io: MainIo = { stdout: process.stdout, stderr: process.stderr, signals: process }): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
      io.stderr.write(USAGE);
      return 2;
    case '-h':
    case '--help':
    case 'help':
      io.stdout.write(USAGE);
      return 0;
    case '-v':
    case '--version':
      io.stdout.write(`${await version()}\n`);
      return 0;
    case 'serve': {
      const { runServe } = await import('./serve.ts');
      return runServe(rest, io);
    }
    case 'check': {
      const { runCheck } = await import('./check.ts');
      return runCheck(rest, io);
    }
    case 'config': {
      const { runConfigDump } = await import('./config-dump.ts');
      return runConfigDump(rest, io);
    }
    case 'test': {
      // Loaded on demand: serving never pulls in the fixture harness.
      const { runTestCommand } = await import('./test-command.ts');
      return runTestCommand(rest);
    }
    case 'console': {
      const { runConsole } = await import('./console.ts');
      return runConsole(rest, { stdout: io.stdout, stderr: io.stderr, stdin: process.stdin });
    }
    default:
      io.stderr.write(`moonwatch: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return `moonwatch ${pkg.version ?? 'unknown'}`;
}
