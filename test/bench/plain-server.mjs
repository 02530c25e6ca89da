/**
 * The SMTP benchmarks' baseline: a plain smtp-server that accepts everything.
 * Plain JavaScript, so the bench runs it as it runs moonwatch's compiled
 * build, without a TypeScript loader in the process.
 *
 * Imported, it exports startPlain(). Run with an IPC channel
 * (`fork('test/bench/plain-server.mjs')`), it listens on a free port, sends
 * { port, pid }, and exits on "stop" or when the parent goes away. Run with
 * the argument `--greet-at-once`, it greets as soon as a client connects, as
 * moonwatch does by default (its `init` override, `limits.greeting_delay_ms:
 * 0`), instead of after the library's fixed 100 ms early-talker pause.
 */
import { fileURLToPath } from 'node:url';
import { SMTPServer } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

/** @returns {Promise<{ port: number, close(): Promise<void> }>} */
export async function startPlain() {
  const server = new SMTPServer({
    name: 'mx.example.test',
    disabledCommands: ['AUTH', 'STARTTLS'],
    hideSTARTTLS: true,
    authOptional: true,
    disableReverseLookup: true,
    logger: false,
    onData(stream, _session, cb) {
      stream.on('data', () => undefined);
      stream.on('end', () => cb());
    },
  });
  server.on('error', () => undefined);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  return {
    port: server.server.address().port,
    close: () => new Promise((resolve) => server.close(() => resolve(undefined))),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send !== undefined) {
  // The library makes its connections itself, so this process patches the one
  // method moonwatch overrides in its subclass: the greeting without the timer.
  if (process.argv.includes('--greet-at-once')) {
    SMTPConnection.prototype.init = function init() {
      this._setListeners(() => this.connectionReady());
    };
  }
  const target = await startPlain();
  const stop = async () => {
    await target.close();
    process.exit(0);
  };
  process.on('message', (m) => {
    if (m === 'stop') void stop();
  });
  process.on('disconnect', () => void stop());
  process.send({ port: target.port, pid: process.pid });
}
