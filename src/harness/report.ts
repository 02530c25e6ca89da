/**
 * Human-readable output of `moonwatch test`: one line per fixture, and for a
 * failure the step, expected vs got and the transcript of the sessions
 * involved.
 */
import { relative } from 'node:path';
import { formatDuration } from './duration.ts';
import { formatPos } from './errors.ts';
import type { FixtureResult } from './result.ts';

export function formatResult(r: FixtureResult, cwd: string): string {
  const file = shortPath(r.file, cwd);
  const title = r.name === r.file ? '' : `  ${r.name}`;
  if (r.ok) {
    const s = r.stats;
    return `ok    ${file}${title}  (${plural(s.sessions, 'session')}, ${plural(s.checks, 'check')}, ${formatDuration(s.virtualMs)} virtual, ${Math.round(s.elapsedMs)} ms)`;
  }
  if (r.error !== undefined) {
    return [`ERROR ${file}${title}`, `      ${r.error.code}: ${shortenPaths(r.error.message, cwd)}`].join('\n');
  }
  const f = r.failure!;
  const lines = [
    `FAIL  ${file}${title}`,
    `      at ${shortPath(formatPos(f.at), cwd)}`,
    `      ${f.step}`,
    `      expected: ${f.expected}`,
    `      got:      ${f.got}`,
  ];
  if (f.transcript.length > 0) {
    lines.push('      transcript:');
    for (const t of f.transcript) lines.push(`        ${t}`);
  }
  return lines.join('\n');
}

export function formatSummary(results: readonly FixtureResult[], elapsedMs: number): string {
  const passed = results.filter((r) => r.ok).length;
  const errors = results.filter((r) => r.error !== undefined).length;
  const failed = results.length - passed - errors;
  const parts = [`${passed} passed`];
  if (failed > 0) parts.push(`${failed} failed`);
  if (errors > 0) parts.push(`${errors} could not run`);
  return `${parts.join(', ')} (${plural(results.length, 'fixture')}, ${Math.round(elapsedMs)} ms)`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function shortPath(p: string, cwd: string): string {
  if (!p.startsWith('/')) return p;
  const rel = relative(cwd, p);
  return rel.startsWith('..') ? p : rel;
}

/** Error messages start with an absolute "file:line:col:"; show it relative like the rest. */
function shortenPaths(message: string, cwd: string): string {
  return message.replace(/(^|\s)(\/[^\s:]+)/g, (_m, lead: string, path: string) => `${lead}${shortPath(path, cwd)}`);
}
