import { describe, expect, it } from 'vitest';
import { holds, replyOf, runDirect } from './direct.ts';

describe('ec_test match types (spec 9.7)', () => {
  it.each([
    [':is "abc" "abc"', true],
    [':is "abc" "ABC"', false],
    [':contains "hello world" "lo w"', true],
    [':contains "hello" "xyz"', false],
    [':matches "mail.example.com" "*.example.???"', true],
    [':matches "mail.example.com" "*.example.??"', false],
    [':matches "a*b" "a\\\\*b"', true],
    [':matches "axb" "a\\\\*b"', false],
    [':regex "host-42.example" "^host-[0-9]+\\\\."', true],
    [':regex "Host-42" "^host"', false],
    ['"abc" "abc"', true],
  ])('ec_test %s → %s', (args, want) => {
    expect(holds(`ec_test ${args}`)).toBe(want);
  });

  it('the default comparator is i;octet (case-sensitive); i;ascii-casemap folds ASCII case', () => {
    expect(holds('ec_test :is "Mail" "mail"')).toBe(false);
    expect(holds('ec_test :comparator "i;ascii-casemap" :is "Mail" "mail"')).toBe(true);
    expect(holds('ec_test :comparator "i;ascii-casemap" :contains "HELLO" "ell"')).toBe(true);
    expect(holds('ec_test :comparator "i;ascii-casemap" :matches "HELLO" "h*O"')).toBe(true);
    expect(holds('ec_test :comparator "i;ascii-casemap" :regex "HELLO" "^hel"')).toBe(true);
  });
});

describe('ec_test :value relations with the three comparators', () => {
  const table: [string, string, string, string, boolean][] = [
    ['i;ascii-numeric', 'gt', '1001', '1000', true],
    ['i;ascii-numeric', 'gt', '1000', '1000', false],
    ['i;ascii-numeric', 'gt', '9', '10', false], // numeric, not lexical
    ['i;ascii-numeric', 'ge', '10', '10', true],
    ['i;ascii-numeric', 'lt', '9', '10', true],
    ['i;ascii-numeric', 'le', '11', '10', false],
    ['i;ascii-numeric', 'eq', '007', '7', true],
    ['i;ascii-numeric', 'ne', '7', '8', true],
    ['i;ascii-numeric', 'gt', '12abc', '11', true], // the leading number
    ['i;ascii-numeric', 'gt', 'abc', '99999999999999999999999', true], // no digits = infinity
    ['i;ascii-numeric', 'eq', 'abc', 'xyz', true],
    ['i;ascii-numeric', 'gt', '123456789012345678901234567890', '123456789012345678901234567889', true],
    ['i;ascii-numeric', 'bitwise-and', '6', '2', true],
    ['i;ascii-numeric', 'bitwise-and', '4', '3', false],
    ['i;octet', 'gt', '9', '10', true], // lexical
    ['i;octet', 'lt', 'B', 'a', true],
    ['i;octet', 'eq', 'a', 'a', true],
    ['i;octet', 'ne', 'a', 'A', true],
    ['i;ascii-casemap', 'eq', 'ABC', 'abc', true],
    ['i;ascii-casemap', 'gt', 'b', 'A', true],
    ['i;ascii-casemap', 'le', 'a', 'B', true],
  ];
  it.each(table)('%s %s "%s" "%s" → %s', (cmp, rel, a, b, want) => {
    expect(holds(`ec_test :value "${rel}" :comparator "${cmp}" "${a}" "${b}"`)).toBe(want);
    // Tag order is free.
    expect(holds(`ec_test :comparator "${cmp}" :value "${rel}" "${a}" "${b}"`)).toBe(want);
  });
});

describe('ec_test :count', () => {
  it.each([
    ['eq', '["a", "b", "c"]', '3', true],
    ['gt', '["a", "b", "c"]', '2', true],
    ['lt', '"one"', '2', true],
    ['ge', '["a"]', '2', false],
    ['ne', '["a", "b"]', '2', false],
  ])(':count "%s" %s %s → %s', (rel, list, key, want) => {
    expect(holds(`ec_test :count "${rel}" :comparator "i;ascii-numeric" ${list} "${key}"`)).toBe(want);
  });

  it('counts the strings of a list variable', () => {
    expect(holds('ec_test :count "eq" :comparator "i;ascii-numeric" ["x", "y"] "2"')).toBe(true);
  });
});

describe('ec_test with variables, lists and tests', () => {
  it('interpolates ${v}; a key list matches if any key matches', () => {
    expect(replyOf('$n = "1200"; if ec_test :value "gt" :comparator "i;ascii-numeric" "${n}" "1000" { ec_action 550 "big ${n}"; }')).toBe('big 1200');
    expect(holds('ec_test :is "b" ["a", "b"]')).toBe(true);
  });

  it('allof, anyof, not, true, false, elsif, else', () => {
    expect(holds('allof(true, ec_test :is "a" "a")')).toBe(true);
    expect(holds('allof(true, false)')).toBe(false);
    expect(holds('anyof(false, ec_test :is "a" "a")')).toBe(true);
    expect(holds('not anyof(false, false)')).toBe(true);
    expect(replyOf('if false { ec_action 550 "1"; } elsif ec_test :is "x" "x" { ec_action 550 "2"; } else { ec_action 550 "3"; }')).toBe('2');
    expect(replyOf('if false { ec_action 550 "1"; } elsif false { ec_action 550 "2"; } else { ec_action 550 "3"; }')).toBe('3');
  });
});

describe(':regex is bounded (docs/sieve.md)', () => {
  it('runs on the linear-time engine: a catastrophic pattern finishes on a long subject', () => {
    const subject = 'a'.repeat(5000) + 'b';
    const { result, state } = runDirect(`$s = "${subject}"; if ec_test :regex "\${s}" "^(a+)+$" { ec_action 550 "yes"; } ec_action 550 "no";`);
    expect(result.kind).toBe('done');
    expect(state.disposition.text).toBe('no');
  });

  it('a literal pattern that needs backtracking is a load error', () => {
    expect(() => runDirect('if ec_test :regex "aa" "(a)\\\\1" { stop; }')).toThrow(/t\.siv:1:24: bad :regex pattern: the pattern needs backtracking/);
  });

  it('an interpolated pattern that needs backtracking is a runtime error', () => {
    const { result } = runDirect('$p = "(?<=a)b"; if ec_test :regex "ab" "${p}" { stop; }');
    expect(result.kind).toBe('fault');
    expect(result.kind === 'fault' && result.fault.message).toMatch(/t\.siv:1:20: ec_test: :regex pattern "\(\?<=a\)b": the pattern needs backtracking/);
  });

  it('an invalid literal pattern is a load error', () => {
    expect(() => runDirect('if ec_test :regex "a" "(" { stop; }')).toThrow(/bad :regex pattern/);
  });
});

describe(':regex with i;ascii-casemap', () => {
  it.each([
    ['HELLO', '^hel', true],
    ['x-DIGIT-9', '^x-[a-z]+-\\\\d$', true],
    ['xA', 'x\\\\x41', true],
    ['ABC', '[^a-c]', false],
    ['abz', '[^A-C]', true],
    ['Q', '\\\\W', false],
  ])('"%s" :regex "%s" → %s', (subject, pattern, want) => {
    expect(holds(`ec_test :comparator "i;ascii-casemap" :regex "${subject}" "${pattern}"`)).toBe(want);
  });
});
