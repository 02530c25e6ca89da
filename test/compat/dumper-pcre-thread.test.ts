import { describe, expect, it } from 'vitest';
import { faultLines, runConnect } from './helpers.ts';

describe('msys.dumper', () => {
  it('dumps nested tables as a Lua literal with a stable key order', async () => {
    const { out } = await runConnect(`
  local d = require("msys.dumper")
  print(d.Dumper({ zeta = 1, alpha = "x", [2] = "b", [1] = "a", nested = { ok = true, ["with space"] = 1.5 } }))
  print(msys.dumper.Dumper("q\\"s"), msys.dumper.Dumper(nil), msys.dumper.Dumper({}))
  local t = {} t.self = t
  print(msys.dumper.Dumper(t))`);
    expect(out[0]).toBe(
      'return {\n  "a",\n  "b",\n  alpha = "x",\n  nested = {\n    ok = true,\n    ["with space"] = 1.5\n  },\n  zeta = 1\n}',
    );
    expect(out[1]).toBe('return "q\\"s"\treturn nil\treturn {}');
    expect(out[2]).toBe('return {\n  self = nil --[[ cycle ]]\n}');
  });
});

describe('msys.pcre', () => {
  it('matches with numbered and named captures, nil on no match', async () => {
    const { out } = await runConnect(`
  local m = msys.pcre.match("user+tag@Example.COM", "^(?P<local>[^+@]+)(\\\\+[^@]*)?@(?<domain>.+)$")
  print(m[0], m[1], m[2], m[3], m["local"], m.domain)
  print(msys.pcre.match("abc", "x"), msys.pcre.match("ABC", "b", "i")[0], msys.pcre.match("ABC", "(?i)c")[0])
  local opt = msys.pcre.match("ac", "a(b)?c")
  print(opt[0], opt[1])
  print(msys.pcre.match("foo.bar", "\\\\Afoo\\\\.bar\\\\z")[0], msys.pcre.match("x y", "x\\\\hy")[0], msys.pcre.match("ab1", "^[[:alpha:]]+[[:digit:]]$")[0])`);
    expect(out).toEqual([
      'user+tag@Example.COM\tuser\t+tag\tExample.COM\tuser\tExample.COM',
      'nil\tB\tC',
      'ac\tnil',
      'foo.bar\tx y\tab1',
    ]);
  });

  it('replaces every match with $n, ${name} and \\\\n references, and splits', async () => {
    const { out } = await runConnect(`
  print(msys.pcre.replace("a-b-c", "-", "+"))
  print(msys.pcre.replace("john smith", "(?<first>\\\\w+) (\\\\w+)", "$2, \${first} \\\\1 $$"))
  local parts = msys.pcre.split("a, b;c", "[,;]\\\\s*")
  print(#parts, table.concat(parts, "|"))
  print(table.concat(msys.pcre.split("abc", ""), "|"))`);
    expect(out).toEqual(['a+b+c\t2', 'smith, john john $\t1', '3\ta|b|c', 'a|b|c']);
  });

  it('refuses patterns whose cost cannot be bounded, and bad patterns, with a clear error', async () => {
    for (const [pattern, why] of [
      ['(a+)+$', 'exponential'],
      ['(\\\\w*x?)*', 'exponential'],
      ['(?>a)', 'atomic groups'],
      ['a++', 'possessive'],
      ['(abc', 'missing )'],
      ['[abc', 'missing terminating ]'],
    ] as const) {
      const { t, verdict } = await runConnect(`msys.pcre.match("aaaa", "${pattern}")`);
      expect(verdict).toMatchObject({ action: 'tempfail', code: 451 });
      const lines = faultLines(t);
      expect(lines[0]).toContain(`msys.pcre.match: bad pattern`);
      expect(lines[0]).toContain(why);
    }
  });

  it('rejects wrong argument types', async () => {
    const { t } = await runConnect(`msys.pcre.match({}, "a")`);
    expect(faultLines(t)[0]).toContain('msys.pcre.match: argument 1 (subject) must be a string, got table');
  });
});

describe('thread', () => {
  it('counts re-entrant locks on a recursive mutex and refuses a second lock of a normal one', async () => {
    const { out } = await runConnect(`
  local thread = require("thread")
  if not mutex then mutex = thread.mutex() end
  print(mutex:lock(), mutex:trylock(), mutex:unlock())
  local r = thread.mutex(thread.MUTEX_RECURSIVE)
  print(r:lock(), r:lock(), r:trylock(), r:unlock(), r:unlock(), r:unlock())
  print(pcall(r.unlock, r))
  mutex:lock()
  print(pcall(mutex.lock, mutex))`);
    expect(out[0]).toBe('true\tfalse\ttrue');
    expect(out[1]).toBe('true\ttrue\ttrue\ttrue\ttrue\ttrue');
    expect(out[2]).toMatch(/^false\t.*thread.mutex: unlock of a mutex that is not locked$/);
    expect(out[3]).toMatch(/^false\t.*already locked/);
  });
});

describe('loadable packages without inbound content', () => {
  it('requires msys.policyeditor and msys.extended.message_routing as tables', async () => {
    const { out } = await runConnect(`
  print(type(require("msys.policyeditor")), type(require("msys.extended.message_routing")), require("msys.pbp") == msys.pbp, require("msys.cidr") == msys.cidr)`);
    expect(out).toEqual(['table\ttable\ttrue\ttrue']);
  });
});

describe('host Lua (the lua/ directory)', () => {
  it('cannot be shadowed by user files of the same name', async () => {
    const { out } = await runConnect(`print(type(require("thread").mutex), type(require("msys.dumper").Dumper), type(msys.pbp.fcdns_check), pcall(table.getn))`, {
      files: {
        'thread.lua': 'return { fake = true }',
        'msys/dumper.lua': 'return { fake = true }',
        'msys/pbp.lua': 'return { fake = true }',
      },
    });
    expect(out[0]).toMatch(/^function\tfunction\tfunction\tfalse\t.*bad argument #1 to 'getn' \(table expected, got no value\)$/);
  });
});
