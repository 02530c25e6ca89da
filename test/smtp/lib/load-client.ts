/**
 * The benchmark's load generator, run in a worker thread so it does not
 * compete with the server for the main thread: `concurrency` clients each
 * loop over full sessions (connect, EHLO, MAIL, RCPT, DATA, QUIT), one
 * command at a time, each session from its own loopback address.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { monotonicMs } from '../../../src/clock.ts';
import { RawSmtpClient } from './raw-client.ts';

export interface LoadRequest {
  readonly entry: string;
  readonly port: number;
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly body: string;
  /** Offset into the address sequence, so runs do not reuse each other's addresses. */
  readonly firstAddress: number;
}

export interface LoadResult {
  readonly rate: number;
  /** Length of the measured window, ms. */
  readonly elapsedMs: number;
  readonly completed: number;
  readonly failed: number;
  readonly addressesUsed: number;
}

/** 127.a.b.c with a changing fastest: consecutive sessions land in different /24s. */
export function loopbackAddress(i: number): string {
  return `127.${1 + (i % 200)}.${Math.floor(i / 200) % 256}.${1 + (Math.floor(i / 51_200) % 254)}`;
}

async function oneSession(req: LoadRequest, address: string): Promise<boolean> {
  const { client, greeting } = await RawSmtpClient.connect({ host: '127.0.0.1', port: req.port, localAddress: address, timeoutMs: 30_000 });
  try {
    if (greeting.code !== 220) return false;
    if ((await client.command('EHLO load.example')).code !== 250) return false;
    if ((await client.command('MAIL FROM:<load@sender.example>')).code !== 250) return false;
    if ((await client.command('RCPT TO:<alice@example.test>')).code !== 250) return false;
    const { final } = await client.data(req.body);
    if (final?.code !== 250) return false;
    return (await client.quit()).code === 221;
  } finally {
    client.socket.destroy();
  }
}

export async function runLoad(req: LoadRequest): Promise<LoadResult> {
  let phase: 'warmup' | 'measure' | 'stop' = 'warmup';
  let next = req.firstAddress;
  let completed = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    while (phase !== 'stop') {
      const counted = phase === 'measure';
      let ok = false;
      try {
        ok = await oneSession(req, loopbackAddress(next++));
      } catch {
        ok = false;
      }
      if (counted && phase === 'measure') {
        if (ok) completed++;
        else failed++;
      }
    }
  };
  const workers = Array.from({ length: req.concurrency }, () => worker());
  await new Promise((r) => setTimeout(r, req.warmupMs));
  phase = 'measure';
  const t0 = monotonicMs();
  await new Promise((r) => setTimeout(r, req.measureMs));
  const elapsed = monotonicMs() - t0;
  phase = 'stop';
  await Promise.all(workers);
  return { rate: (completed / elapsed) * 1000, elapsedMs: elapsed, completed, failed, addressesUsed: next - req.firstAddress };
}

if (parentPort !== null && (workerData as LoadRequest | undefined)?.port !== undefined) {
  const port = parentPort;
  void runLoad(workerData as LoadRequest).then((r) => port.postMessage(r));
}
