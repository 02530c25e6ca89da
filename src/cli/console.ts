/**
 * `moonwatch console [--socket PATH | --config FILE | --tcp HOST:PORT] [command…]`:
 * runs one console command against a running server, or, with no command,
 * an interactive prompt with line editing and history.
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { ConsoleClient, type ConsoleTarget } from '../console/client.ts';
import { ConfigError } from '../config/errors.ts';
import { loadConfigFile } from '../config/load.ts';
import { errorMessage, isMoonwatchError } from '../errors.ts';
import { parseArgs, UsageError } from './args.ts';
import { findDefaultConfig } from './default-config.ts';

export const CONSOLE_USAGE = `usage: moonwatch console [--socket PATH | --config FILE | --tcp HOST:PORT] [command…]

Runs one console command against a running moonwatch server and prints its
answer; with no command, opens an interactive prompt ("help" lists the
commands, "quit" leaves). The command is separate words or one quoted string:
  moonwatch console inbound_audit show ip 1.2.3.4
  moonwatch console "inbound_audit show ip 1.2.3.4"
Without --socket, --config or --tcp the socket comes from the default config:
$MOONWATCH_CONFIG, ./moonwatch.yaml, /etc/moonwatch/moonwatch.yaml (the first
that exists). See docs/console.md.

options:
  -s, --socket PATH     the control socket (control.socket in the config)
  -c, --config FILE     take the control socket (or TCP address) from FILE
      --tcp HOST:PORT   loopback TCP control address; the token comes from
                        --token or MOONWATCH_CONSOLE_TOKEN
      --token TOKEN     token for --tcp
  -h, --help            show this help

exit codes: 0 ok, 1 the command answered "Error: …" or the server could not be reached, 2 usage
`;

export interface ConsoleIo {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
  readonly stdin?: Readable;
  readonly env?: NodeJS.ProcessEnv;
}

export async function runConsole(argv: readonly string[], io: ConsoleIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin }): Promise<number> {
  let target: ConsoleTarget;
  let words: string[];
  try {
    const args = parseArgs(argv, [
      { name: 'socket', alias: 's' },
      { name: 'config', alias: 'c' },
      { name: 'tcp' },
      { name: 'token' },
      { name: 'help', alias: 'h', switch: true },
    ]);
    if (args.flags.has('help')) {
      io.stdout.write(CONSOLE_USAGE);
      return 0;
    }
    target = targetFrom(args.flags, io.env ?? process.env);
    words = args.positional;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`moonwatch console: ${err.message}\n\n${CONSOLE_USAGE}`);
      return 2;
    }
    if (err instanceof ConfigError) {
      io.stderr.write(`moonwatch console: bad config: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  let client: ConsoleClient;
  try {
    client = await ConsoleClient.connect(target);
  } catch (err) {
    io.stderr.write(`moonwatch console: ${errorMessage(err)}\n`);
    return 1;
  }
  try {
    // One argument with blanks is the whole command line, quoted for the shell.
    if (words.length === 1 && /\s/.test(words[0]!.trim())) return await oneShot(client, words[0]!.trim(), io);
    if (words.length > 0) return await oneShot(client, words.map(quote).join(' '), io);
    return await interactive(client, io);
  } finally {
    client.close();
  }
}

function targetFrom(flags: Map<string, string | true>, env: NodeJS.ProcessEnv): ConsoleTarget {
  const socket = flags.get('socket');
  const config = flags.get('config');
  const tcp = flags.get('tcp');
  const given = [socket, config, tcp].filter((v) => v !== undefined).length;
  if (given > 1) throw new UsageError('give only one of --socket, --config and --tcp');
  if (typeof socket === 'string') return { socket };
  if (typeof tcp === 'string') return tcpTarget(tcp, flags.get('token'), env);
  const fallback = given === 0 ? findDefaultConfig(env) : undefined;
  if (fallback !== undefined && fallback.file === undefined) {
    throw new UsageError(`--socket PATH, --config FILE or --tcp HOST:PORT is required (no default config at ${fallback.looked.join(', ')})`);
  }
  const configFile = typeof config === 'string' ? config : fallback?.file;
  if (configFile !== undefined) {
    const c = loadConfigFile(configFile);
    if (c.control === undefined) throw new UsageError(`${c.file} has no control section: the server runs no console socket`);
    if (c.control.socket !== undefined) return { socket: c.control.socket };
    if (c.control.tcp !== undefined && c.control.token !== undefined) return { ...c.control.tcp, token: c.control.token };
    throw new UsageError(`${c.file}: control has neither socket nor tcp`);
  }
  throw new UsageError('--socket PATH, --config FILE or --tcp HOST:PORT is required');
}

function tcpTarget(text: string, flagToken: string | true | undefined, env: NodeJS.ProcessEnv): ConsoleTarget {
  const m = /^(127\.0\.0\.1|\[::1\]):(\d{1,5})$/.exec(text);
  if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new UsageError(`--tcp must be 127.0.0.1:PORT or [::1]:PORT, got ${text}`);
  const token = typeof flagToken === 'string' ? flagToken : env['MOONWATCH_CONSOLE_TOKEN'];
  if (token === undefined || token === '') throw new UsageError('--tcp needs --token or MOONWATCH_CONSOLE_TOKEN');
  return { host: m[1] === '[::1]' ? '::1' : m[1]!, port: Number(m[2]), token };
}

async function oneShot(client: ConsoleClient, line: string, io: ConsoleIo): Promise<number> {
  const out = await client.run(line);
  for (const l of out) io.stdout.write(`${l}\n`);
  return out.length === 1 && out[0]!.startsWith('Error:') ? 1 : 0;
}

async function interactive(client: ConsoleClient, io: ConsoleIo): Promise<number> {
  const input = io.stdin ?? process.stdin;
  const rl = createInterface({
    input,
    output: io.stdout as unknown as Writable,
    prompt: 'moonwatch> ',
    historySize: 1000,
    removeHistoryDuplicates: true,
  });
  rl.prompt();
  try {
    for await (const raw of rl) {
      const line = raw.trim();
      if (line === 'quit' || line === 'exit') break;
      if (line !== '') {
        try {
          for (const l of await client.run(line)) io.stdout.write(`${l}\n`);
        } catch (err) {
          io.stderr.write(`moonwatch console: ${isMoonwatchError(err) ? err.message : errorMessage(err)}\n`);
          return 1;
        }
      }
      rl.prompt();
    }
  } finally {
    rl.close();
  }
  return 0;
}

/** Re-quotes a shell word so the server's tokenizer sees it as one word. */
function quote(w: string): string {
  if (w !== '' && !/[\s"\\]/.test(w)) return w;
  return `"${w.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}
