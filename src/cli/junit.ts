/**
 * `moonwatch test --reporter junit`: the results as JUnit XML, the format CI
 * systems (GitLab, Jenkins, GitHub actions' test reporters) read. One
 * <testsuite> per run, one <testcase> per fixture: a failed expectation is a
 * <failure>, a fixture that could not run an <error>, skipped files are
 * <skipped> cases; script output goes to <system-out>.
 */
import { relative } from 'node:path';
import type { FixtureResult } from '../harness/result.ts';
import { fixtureNotes } from './fixture-notes.ts';

export function junitXml(results: readonly FixtureResult[], skipped: readonly { file: string; why: string }[], elapsedMs: number, cwd: string): string {
  const failures = results.filter((r) => !r.ok && r.error === undefined).length;
  const errors = results.filter((r) => r.error !== undefined).length;
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="moonwatch" tests="${results.length + skipped.length}" failures="${failures}" errors="${errors}" skipped="${skipped.length}" time="${secs(elapsedMs)}">`,
    `  <testsuite name="moonwatch fixtures" tests="${results.length + skipped.length}" failures="${failures}" errors="${errors}" skipped="${skipped.length}" time="${secs(elapsedMs)}">`,
  ];
  for (const r of results) {
    const file = rel(r.file, cwd);
    out.push(`    <testcase classname="${esc(file)}" name="${esc(r.name)}" file="${esc(file)}" time="${secs(r.stats.elapsedMs)}">`);
    if (r.error !== undefined) {
      out.push(`      <error type="${esc(r.error.code)}" message="${esc(r.error.message)}">${esc(r.error.message)}</error>`);
    } else if (r.failure !== undefined) {
      const f = r.failure;
      const body = [f.step, `expected: ${f.expected}`, `got:      ${f.got}`, ...f.transcript].join('\n');
      out.push(`      <failure type="expectation" message="${esc(`${f.step}: expected ${f.expected}, got ${f.got}`)}">${esc(body)}</failure>`);
    }
    const notes = fixtureNotes(r);
    if (notes.length > 0) out.push(`      <system-out>${esc(notes.join('\n'))}</system-out>`);
    out.push('    </testcase>');
  }
  for (const s of skipped) {
    const file = rel(s.file, cwd);
    out.push(`    <testcase classname="${esc(file)}" name="${esc(file)}" file="${esc(file)}" time="0">`, `      <skipped message="${esc(s.why)}"/>`, '    </testcase>');
  }
  out.push('  </testsuite>', '</testsuites>');
  return out.join('\n');
}

function secs(ms: number): string {
  return (ms / 1000).toFixed(3);
}

function rel(p: string, cwd: string): string {
  const r = relative(cwd, p);
  return r.startsWith('..') ? p : r;
}

function esc(s: string): string {
  // XML 1.0 has no escape for most control characters: drop them.
  return s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}
