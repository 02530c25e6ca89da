import { parseAddress } from '../../src/audit/address.ts';
import { AuditStore } from '../../src/audit/store.ts';
import { ManualClock } from '../../src/clock.ts';
import { captureLogger } from '../../src/log.ts';
import { emptyDisposition, type SessionState } from '../../src/msys/session-state.ts';
import type { SievePhase } from '../../src/sieve/config.ts';
import type { RuntimeErrorMode } from '../../src/sieve/evaluator.ts';
import { SievePhases, type SieveResult } from '../../src/sieve/policy.ts';
import { T0 } from '../helpers/engine.ts';

/** Compiles one script for a phase and runs it on a bare session state: no engine, no Lua VM. */
export function runDirect(
  src: string,
  opts: { phase?: SievePhase; peer?: string; onError?: RuntimeErrorMode; state?: Partial<SessionState>; setup?: (store: AuditStore, clock: ManualClock) => void; start?: number } = {},
): { result: SieveResult; state: SessionState; records: ReturnType<typeof captureLogger>['records'] } {
  const clock = new ManualClock(opts.start ?? T0);
  const { logger, records } = captureLogger('debug');
  const store = new AuditStore({ clock, logger, monitors: ['60,10', '300,6'] });
  opts.setup?.(store, clock);
  const phase = opts.phase ?? 'connect';
  const set = SievePhases.compile({ phases: { [phase]: ['t.siv'] }, runtimeError: opts.onError ?? 'fail' }, () => src, {
    store,
    clock,
    warnOnce: () => {},
  });
  const peerText = opts.peer ?? '203.0.113.7';
  const state: SessionState = {
    id: '1.1',
    connId: '1.1',
    peer: parseAddress(peerText),
    peerText,
    peerPort: 40000,
    hostname: 'mx.test',
    vctxConn: new Map(),
    vctxMess: new Map(),
    disposition: emptyDisposition(),
    message: null,
    ...opts.state,
  };
  const result = set.run(state, phase, () => logger);
  return { result, state, records };
}

/** The text of the reply the script ended with (ec_action …), or undefined. */
export function replyOf(src: string, opts: Parameters<typeof runDirect>[1] = {}): string | undefined {
  const { result, state } = runDirect(src, opts);
  if (result.kind === 'fault') throw result.fault;
  return state.disposition.text;
}

/** Whether `test` holds: runs `if <test> { ec_action 550 "yes"; } ec_action 550 "no";`. */
export function holds(test: string, opts: Parameters<typeof runDirect>[1] = {}): boolean {
  return replyOf(`if ${test} { ec_action 550 "yes"; } ec_action 550 "no";`, opts) === 'yes';
}
