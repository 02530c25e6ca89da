/** The console control socket of a running `moonwatch serve`, as the process tests reach it. */
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { ConsoleClient } from '../../src/console/client.ts';

/** Whether something accepts connections on the socket now. */
export function controlSocketAnswers(path: string): Promise<boolean> {
  if (!existsSync(path)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const c = connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/** Runs one console line over a fresh connection. */
export async function runConsoleLineAt(socket: string, line: string): Promise<string[]> {
  const c = await ConsoleClient.connect({ socket });
  try {
    return await c.run(line);
  } finally {
    c.close();
  }
}
