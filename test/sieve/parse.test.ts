import { describe, expect, it } from 'vitest';
import { isMoonwatchError } from '../../src/errors.ts';
import { MAX_SCRIPT_BYTES } from '../../src/sieve/lexer.ts';
import { parseSieve } from '../../src/sieve/parser.ts';
import { replyOf, runDirect } from './direct.ts';

/** The load error a script gets at the connect phase (or the given one). */
function loadError(src: string, phase: Parameters<typeof runDirect>[1] = {}): string {
  try {
    runDirect(src, phase);
  } catch (err) {
    expect(isMoonwatchError(err, 'MW_ERR_SCRIPT_LOAD')).toBe(true);
    return (err as Error).message;
  }
  throw new Error('script loaded');
}

describe('parse errors point at file:line:col with what was expected', () => {
  it.each([
    ['ec_action 550 "abc', 't.siv:1:15: unterminated string: expected a closing \'"\''],
    ['stop', 't.siv:1:5: expected ";" after "stop", got the end of the script'],
    ['if true {\n  stop;\n', 't.siv:3:1: expected "}" to close the block, got the end of the script'],
    ['\n\n  $x = ;', 't.siv:3:8: expected a command, a string, a number, a list or a $variable after "=", got ";"'],
    ['else { stop; }', 't.siv:1:1: "else" without a preceding "if" block, got "else"'],
    ['if { stop; }', 't.siv:1:4: expected a test (a test command, allof, anyof, not, true or false), got "{"'],
    ['if allof(true false) { stop; }', 't.siv:1:15: expected ")" to close "allof(" (or "," before another test), got "false"'],
    ['ec_test :is ["a" "b"] "c";', 't.siv:1:18: expected "]" to close the string list (or "," before another string), got the string "b"'],
    ['($a, b) = audit_service "SMTP";', 't.siv:1:6: expected a "$variable" in the list assignment, got "b"'],
    ['$x = 12ab;', 't.siv:1:8: bad number: expected digits with an optional K, M or G, got "12a"'],
    ['/* open', 't.siv:1:1: unterminated comment: expected "*/"'],
    ['$x = text: oops\nline\n.\n;', 't.siv:1:12: expected a line break after "text:"'],
    ['ec_action 550 @;', 't.siv:1:15: unexpected character "@"'],
    ['stop;\n  $x = "two\nlines', 't.siv:2:8: unterminated string: expected a closing \'"\''],
    ['/* a\nb', 't.siv:1:1: unterminated comment: expected "*/"'],
  ])('%j', (src, message) => {
    expect(loadError(src)).toBe(message);
  });
});

describe('load-time checks: commands, argument counts, option values', () => {
  it.each([
    ['ec_foo "x";', 't.siv:1:1: unknown command "ec_foo"'],
    ['ec_tarpit;', 't.siv:1:1: "ec_tarpit" takes 1 to 2 arguments, got 0 (usage: ec_tarpit <seconds> ["<counter>"])'],
    ['ec_action 550 "a" "b" "c";', 't.siv:1:1: "ec_action" takes 2 to 3 arguments, got 4 (usage: ec_action <code> "<reason>" ["<counter>"])'],
    ['$n = ec_ip_connections;', 't.siv:1:6: "ec_ip_connections" takes 1 to 2 arguments, got 0 (usage: ec_ip_connections "<monitor-index>" ["<mask>"] | ec_ip_connections $hash)'],
    ['if ec_test :comparator "i;foo" "a" "b" { stop; }', 't.siv:1:24: unknown comparator "i;foo" (expected "i;octet", "i;ascii-casemap", "i;ascii-numeric")'],
    ['if ec_test :value "gtx" "a" "b" { stop; }', 't.siv:1:19: unknown relation "gtx" for :value (expected one of gt ge lt le eq ne bitwise-and)'],
    ['if ec_test :value "${r}" "a" "b" { stop; }', 't.siv:1:19: ":value" must be followed by a relation as a literal string'],
    ['if ec_test :comparator "i;ascii-numeric" :contains "1" "2" { stop; }', 't.siv:1:4: comparator "i;ascii-numeric" cannot be used with :contains (only :is, :value and :count)'],
    ['if ec_test :is :contains "a" "b" { stop; }', 't.siv:1:16: a second match type ":contains" (already :is)'],
    ['if ec_test :over "a" "b" { stop; }', 't.siv:1:12: "ec_test" has no tag ":over" (tags: :comparator :is :contains :matches :regex :value :count)'],
    ['if ec_test "a" :is "b" { stop; }', 't.siv:1:16: tag ":is" must come before the positional arguments of "ec_test"'],
    ['if ec_tarpit 5 { stop; }', 't.siv:1:4: "ec_tarpit" is an action and cannot be used as a test'],
    ['ec_test "a" "b";', 't.siv:1:1: "ec_test" is a test and cannot be used as an action'],
    ['$x = ec_tarpit 5;', 't.siv:1:6: "ec_tarpit" is an action and cannot be used as a command that returns a value'],
    ['ec_action 999 "x";', 't.siv:1:11: ec_action: the reply code must be between 200 and 599, got "999"'],
    ['ec_disconnect "42" "x";', 't.siv:1:15: ec_disconnect: the reply code must be between 200 and 599, got "42"'],
    ['ec_tarpit 1K;', 't.siv:1:11: ec_tarpit: at most 300 seconds, got 1024'],
    ['$n = audit_series "s" "300";', 't.siv:1:23: audit_series: invalid monitor "300": expected "<window-seconds>,<number-of-windows>" with two positive integers, e.g. "300,6"'],
    ['hash_set "h" "k" "v";', 't.siv:1:10: hash_set: the first argument must be a $hash variable'],
    ['if size :over :under 10 { stop; }', 't.siv:1:4: "size" cannot run in the connect phase (it needs the message; phases: data, data_spool, each_rcpt)'],
  ])('%j', (src, message) => {
    expect(loadError(src)).toBe(message);
  });

  it('message tests are checked against the phase', () => {
    expect(loadError('if header :is "Subject" "x" { stop; }', { phase: 'rcptto' })).toMatch(/"header" cannot run in the rcptto phase/);
    expect(loadError('if envelope "to" "a@b" { stop; }', { phase: 'mailfrom' })).toMatch(/envelope "to" has no recipient yet in the mailfrom phase/);
    expect(loadError('if envelope "cc" "a@b" { stop; }', { phase: 'rcptto' })).toBe('t.siv:1:13: the envelope part must be "from" or "to", got "cc"');
    expect(loadError('discard;', { phase: 'ehlo' })).toMatch(/"discard" cannot run in the ehlo phase \(discard drops a message/);
    expect(loadError('if size :over :under 10 { stop; }', { phase: 'data' })).toBe('t.siv:1:15: ":under" cannot be combined with ":over"');
    expect(loadError('if size 10 { stop; }', { phase: 'data' })).toBe('t.siv:1:4: size needs :over or :under');
  });

  it('bounds script size and nesting', () => {
    expect(loadError(`# ${'x'.repeat(MAX_SCRIPT_BYTES)}`)).toMatch(/^t\.siv:1:1: script is larger than 262144 bytes/);
    const deep = `${'if true { '.repeat(70)}stop;${' }'.repeat(70)}`;
    expect(loadError(deep)).toMatch(/blocks and tests nest deeper than 64 levels/);
    expect(loadError(`if ${'not '.repeat(70)}true { stop; }`)).toMatch(/nest deeper than 64 levels/);
  });
});

describe('the Sieve++ subset (spec 9.1)', () => {
  it('strings quote with backslash; text: multi-line strings with dot-stuffing', () => {
    expect(replyOf('ec_action 550 "a\\"b\\\\c\\n";')).toBe('a"b\\cn');
    expect(replyOf('$t = text: # comment\nline one\n..dot\n.\n;\nec_action 550 "${t}";')).toBe('line one\r\n.dot\r\n');
  });

  it('numbers take K, M and G; comments of both kinds', () => {
    expect(replyOf('$a = 2K; $b = 1M; /* block\ncomment */ $c = 1G; # line comment\nec_action 550 "${a} ${b} ${c}";')).toBe('2048 1048576 1073741824');
  });

  it('scalar and list assignment, interpolation of unset variables, identifiers are case-insensitive', () => {
    expect(replyOf('($a, $b, $c) = ["x", "y"]; $D = "d"; EC_ACTION 550 "${a}${b}[${c}]${d}[${nope}]";')).toBe('xy[]d[]');
  });

  it('%{…} macros go through the Lua side\'s expander', () => {
    const src = 'ec_action 550 "ip=%{i} conn=%{vctx_conn:k} spf=%{spfv1:ir} left=%{unknown:x}";';
    const { state } = runDirect(src, { peer: '192.0.2.10', state: { vctxConn: new Map([['k', 'v']]) } });
    expect(state.disposition.text).toBe('ip=192.0.2.10 conn=v spf=10.2.0.192 left=%{unknown:x}');
  });

  it('a macro\'s text in a variable is not expanded again', () => {
    const { state } = runDirect('ec_action 550 "${x}";', { state: { vctxConn: new Map([['k', 'v']]) } });
    expect(state.disposition.text).toBe('');
    expect(replyOf('$x = "%{i}"; ec_action 550 "${x}";', { peer: '192.0.2.10' })).toBe('192.0.2.10');
  });

  it('require is accepted and ignored; stop ends the script', () => {
    expect(replyOf('require ["fileinto", "variables"]; require "x"; ec_tarpit 1; stop; ec_action 550 "never";')).toBeUndefined();
  });

  it('interpolation is bounded', () => {
    const { result } = runDirect(`$a = "${'x'.repeat(40_000)}"; $b = "\${a}\${a}";`);
    expect(result.kind === 'fault' && result.fault.message).toMatch(/interpolated string is longer than 65536 characters/);
  });

  it('parseSieve returns the statements', () => {
    expect(parseSieve('f.siv', 'if true { stop; } elsif false { keep; } else { discard; }')[0]).toMatchObject({ kind: 'if', branches: [{}, {}] });
  });
});
