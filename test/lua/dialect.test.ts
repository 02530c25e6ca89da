import { describe, expect, it } from 'vitest';
import { translateMomentum } from '../../src/lua/dialect.ts';
import { ScriptFault } from '../../src/lua/errors.ts';
import { pushValue } from '../../src/lua/marshal.ts';
import { makeVm, thrown } from './helpers.ts';

describe('translateMomentum', () => {
  it('rewrites != ^^ and \\ outside strings and comments', () => {
    expect(translateMomentum('if a != b then x = a ^^ b; y = a \\ b end')).toBe(
      'if a ~= b then x = a ~  b; y = a // b end',
    );
    expect(translateMomentum('if a~=b or not (a==b) then end')).toBe('if a~=b or not (a==b) then end');
  });

  it('leaves strings, long strings and comments alone', () => {
    const src = [
      `s = "a != b ^^ c \\\\ d 42"`,
      `t = 'it''s' -- a != b 42`,
      `u = [[ a != b \\ 42 ]]`,
      `v = [==[ ]] a != b ]=] 42 ]==]`,
      `--[[ a != b`,
      `  42 ]] w = 1`,
      `--[==[ x != y ]==]`,
    ].join('\n');
    expect(translateMomentum(src)).toBe(src.replace('w = 1', 'w = 1.0'));
  });

  it('drops the backslash of escapes 5.1 did not know and keeps the ones it did', () => {
    expect(translateMomentum(String.raw`x = "\-\.\/\%" .. '\q'`)).toBe(String.raw`x = "-./%" .. 'q'`);
    const known = String.raw`x = "\a\b\f\n\r\t\v\\\"\'\065\x41\z  \u{41}"`;
    expect(translateMomentum(known)).toBe(known);
  });

  it('makes decimal integer literals floats, as every 5.1 number is, and leaves other numerals alone', () => {
    expect(translateMomentum('x = 42 + 0x1F + 1e5 + .5 + 3. + 2.5 + x1 + 0')).toBe(
      'x = 42.0 + 0x1F + 1e5 + .5 + 3. + 2.5 + x1 + 0.0',
    );
    expect(translateMomentum('s = a..1 .. "x"..2')).toBe('s = a..1.0 .. "x"..2.0');
    expect(translateMomentum('t[1] = 1..2')).toBe('t[1.0] = 1..2'); // still a malformed number for Lua
  });

  it('keeps every line break, so errors point at the line the operator wrote', () => {
    const src = [
      'local a = 1 -- comment != here',
      'local s = [[',
      'long != string',
      ']] .. "esc\\',
      'aped newline"',
      'if a != 2 then',
      '  error("boom on line 7")',
      'end',
    ].join('\n');
    const out = translateMomentum(src);
    expect(out.split('\n')).toHaveLength(src.split('\n').length);
    const { run } = makeVm();
    const err = thrown(() => run(src)) as ScriptFault;
    expect(err.luaMessage).toBe('test:7: boom on line 7');
  });

  it('returns the source itself when nothing needs rewriting', () => {
    const src = 'local s = "x" -- note\nreturn s';
    expect(translateMomentum(src)).toBe(src);
  });
});

describe('Momentum operators on the VM', () => {
  it('combines float flags from the host with | & << >> ~ ^^ into ordinary numbers', () => {
    const { vm, run } = makeVm();
    vm.setGlobal('msys', (L) => pushValue(L, { core: { O_CREAT: 64, O_APPEND: 1024, O_WRONLY: 1 } }));
    expect(
      run(`
        local flags = msys.core.O_CREAT | msys.core.O_APPEND
        return flags, tostring(flags), type(flags), flags & msys.core.O_APPEND, 1 << 4, 256 >> 4,
               ~0, 5 ^^ 3, flags * 1000000, msys.core.O_WRONLY != 0`),
    ).toEqual([1088, '1088', 'number', 1024, 16, 16, -1, 6, 1088000000, true]);
  });

  it('divides with \\ and keeps products of large counts exact instead of wrapping at 32 bits', () => {
    const { run } = makeVm();
    expect(run('return 7 \\ 2, 9 \\ 3, 100000 * 100000, tostring(3 * 4), "n=" .. 5')).toEqual([3, 3, 1e10, '12', 'n=5']);
    const roomy = { instructions: 10_000_000, wallMs: 10_000 };
    expect(run('local sum = 0 for i = 1, 100000 do sum = sum + i end return sum', roomy)).toEqual([5000050000]);
  });

  it('tolerates unknown escapes like 5.1', () => {
    const { run } = makeVm();
    expect(run('return "a\\-b", #"\\."')).toEqual(['a-b', 1]);
  });
});
