import { describe, expect, it } from 'vitest';
import { isMoonwatchError } from '../../src/errors.ts';
import { SieveParseError } from '../../src/sieve/errors.ts';
import { parseSieve } from '../../src/sieve/parser.ts';
import { runDirect } from './direct.ts';

/** A small deterministic PRNG (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FRAGMENTS = [
  'if', 'elsif', 'else', 'allof', 'anyof', 'not', 'true', 'false', 'stop', 'require', '{', '}', '(', ')', '[', ']', ',', ';', '=',
  '$a', '$h', '($a, $b)', '$h["k"]', '"x"', '"${a}"', '"%{i}"', '"\\""', '10', '1K', 'text:\nline\n.\n',
  'ec_test', ':value', '"gt"', ':comparator', '"i;ascii-numeric"', ':regex', '"(a+)+$"', ':matches', '"*"', ':count',
  'ec_ip_connections', '"0"', '"24"', 'audit_service', '"SMTP"', '"/24"', 'audit_series', 'audit_series_add', '"s"', '"60,5"',
  'hash_create', 'hash_set', 'hash_get', 'ec_tarpit', 'ec_action', '550', 'ec_disconnect', '421', 'reject', 'keep', 'discard',
  'header', 'size', ':over', '# c\n', '/* c */', '\n', ' ', '@', '"unterminated',
];

describe('hostile input', () => {
  it('random token soup either parses or fails with a positioned SieveParseError', () => {
    const next = rng(12);
    for (let n = 0; n < 3000; n++) {
      const len = 1 + Math.floor(next() * 25);
      const src = Array.from({ length: len }, () => FRAGMENTS[Math.floor(next() * FRAGMENTS.length)]!).join(' ');
      try {
        parseSieve('f.siv', src);
      } catch (err) {
        if (!(err instanceof SieveParseError)) throw new Error(`non-parse error for ${JSON.stringify(src)}: ${String(err)}`);
        expect(err.line).toBeGreaterThanOrEqual(1);
        expect(err.col).toBeGreaterThanOrEqual(1);
      }
    }
  });

  it('scripts that load never throw out of a run: any failure is a fault result', () => {
    const next = rng(34);
    let loaded = 0;
    const statements = [
      '$a = ec_ip_connections "0";', '$a = ec_ip_connections "${b}";', '($a) = audit_service "${a}" "${b}";', '$h = hash_create;',
      'hash_set $h "k" $a;', '$b = $h["k"];', 'audit_series_add "s" "60,5" "${a}";', '$a = audit_series "s" "60,5" "${b}";',
      'if ec_test :regex "${a}" "${b}" { ec_tarpit 1; }', 'if ec_test :value "gt" :comparator "i;ascii-numeric" "${a}" "3" { ec_action 550 "x"; }',
      '$b = "(";', '$b = "99";', '$a = "/40";', 'ec_tarpit "${b}";', 'ec_action "${b}" "r";', '$a = $nope;', 'stop;',
    ];
    for (let n = 0; n < 500; n++) {
      const src = Array.from({ length: 1 + Math.floor(next() * 8) }, () => statements[Math.floor(next() * statements.length)]!).join('\n');
      for (const onError of ['fail', 'continue'] as const) {
        let r;
        try {
          r = runDirect(src, { onError });
        } catch (err) {
          if (isMoonwatchError(err, 'MW_ERR_SCRIPT_LOAD')) continue;
          throw err;
        }
        loaded++;
        expect(['cont', 'done', 'fault']).toContain(r.result.kind);
      }
    }
    expect(loaded).toBeGreaterThan(500);
  });
});
