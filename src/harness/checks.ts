/**
 * Evaluates `assert` checks against the store, the captured log and the
 * delivered messages. A check that cannot be evaluated as written (unknown
 * series, a window range past the monitor) is a fixture error, not a failure:
 * it would otherwise pass or fail for the wrong reason.
 */
import { parseCidr } from '../audit/address.ts';
import { errorMessage } from '../errors.ts';
import { LEVELS, type LogRecord } from '../log.ts';
import { checkCidr } from './addresses.ts';
import { FixtureStepError } from './errors.ts';
import type { Check } from './fixture.ts';
import { describeNumber, describeText, numberMatches, textMatches } from './match.ts';
import { failStep, type RunContext } from './run-context.ts';
import { configuredMonitor } from './seeding.ts';

export function runCheck(ctx: RunContext, check: Check, stepLabel: string): void {
  ctx.checksRun++;
  const { subject, value } = evaluate(ctx, check);
  const want = check.kind === 'log' ? check.count : check.value;
  if (!numberMatches(want, value)) {
    failStep(ctx, stepLabel, check.pos, `${subject} = ${describeNumber(want)}`, `${value}${check.kind === 'log' ? logHint(ctx, check) : ''}`);
  }
}

function evaluate(ctx: RunContext, check: Check): { subject: string; value: number } {
  const { store } = ctx;
  try {
    switch (check.kind) {
      case 'counter': {
        const cidr = checkCidr(check.cidr, check.pos, 'cidr');
        if (check.smoothed) {
          return { subject: `smoothed ${check.metric} (${check.monitor}) for ${check.cidr}`, value: store.smoothed(check.metric, check.monitor, cidr) };
        }
        checkMonitorRange(ctx, check.monitor, check.end, check);
        return {
          subject: `${check.metric} (${check.monitor}, windows ${range(check.start, check.end)}) for ${check.cidr}`,
          value: store.count(check.metric, check.monitor, cidr, check.start, check.end),
        };
      }
      case 'series': {
        const info = store.series.info(check.name);
        if (check.end >= info.windows) {
          throw new FixtureStepError(check.pos, `windows ${range(check.start, check.end)} are outside series "${check.name}" (windows 0..${info.windows - 1})`);
        }
        const key = info.type === 'string' ? check.key : parseCidr(check.key);
        return {
          subject: `series ${check.name} (windows ${range(check.start, check.end)}) for ${check.key}`,
          value: store.series.count(check.name, key, check.start, check.end),
        };
      }
      case 'gauge': {
        const cidr = checkCidr(check.cidr, check.pos, 'cidr');
        return {
          subject: `open ${check.service} sessions from ${check.cidr}${check.listener === undefined ? '' : ` on ${check.listener}`}`,
          value: store.gauges.count(check.service, cidr, check.listener),
        };
      }
      case 'log':
        return {
          subject: `${check.printed ? 'printed lines' : 'log lines'} matching ${describeText(check.pattern)}${check.level === undefined ? '' : ` at ${levelName(check.level)}`}`,
          value: matchingRecords(ctx.records, check).length,
        };
      case 'delivered':
        return { subject: 'messages delivered', value: ctx.delivered };
    }
  } catch (err) {
    if (err instanceof FixtureStepError) throw err;
    throw new FixtureStepError(check.pos, `cannot check this: ${errorMessage(err)}`, { cause: err });
  }
}

function matchingRecords(records: readonly LogRecord[], check: Extract<Check, { kind: 'log' }>): LogRecord[] {
  return records.filter((r) =>
    (!check.printed || r['script_print'] === true)
    && (check.level === undefined || r.level === check.level)
    && typeof r.msg === 'string' && textMatches(check.pattern, r.msg));
}

/** When a log check fails, show the nearest candidates so the author sees what was said instead. */
function logHint(ctx: RunContext, check: Extract<Check, { kind: 'log' }>): string {
  const pool = ctx.records.filter((r) => !check.printed || r['script_print'] === true);
  if (pool.length === 0) return check.printed ? ' (nothing was printed)' : ' (nothing was logged)';
  const last = pool.slice(-5).map((r) => `\n    ${levelName(r.level)}: ${r.msg}`).join('');
  return ` (last ${Math.min(5, pool.length)} of ${pool.length} ${check.printed ? 'printed lines' : 'log lines'}:${last})`;
}

function checkMonitorRange(ctx: RunContext, monitor: string, end: number, check: Check): void {
  const { windows } = configuredMonitor(ctx.store, monitor, check.pos);
  if (end >= windows) {
    throw new FixtureStepError(check.pos, `window ${end} is outside monitor ${monitor} (windows 0..${windows - 1})`);
  }
}

function range(start: number, end: number): string {
  return start === end ? String(start) : `${start}..${end}`;
}

function levelName(level: number): string {
  return Object.entries(LEVELS).find(([, v]) => v === level)?.[0] ?? String(level);
}
