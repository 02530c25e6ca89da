import { describe, expect, it } from 'vitest';
import { translateMomentum } from '../../src/lua/dialect.ts';
import { isDecimalIntegerToken, tokenizeLua, tokenText, type LuaToken } from '../../src/lua/lexer.ts';
import { findComparisons } from '../../src/tools/mutation.ts';

const kinds = (src: string): [string, string, number][] => tokenizeLua(src).map((t: LuaToken) => [t.kind, tokenText(src, t), t.line]);

describe('the one Lua tokenizer', () => {
  it('splits names, numbers, strings and symbols, longest symbol first', () => {
    expect(kinds('local x = a..b ... c ~= 0x1F and 3.5e+2 or .5')).toEqual([
      ['name', 'local', 1], ['name', 'x', 1], ['symbol', '=', 1], ['name', 'a', 1], ['symbol', '..', 1], ['name', 'b', 1],
      ['symbol', '...', 1], ['name', 'c', 1], ['symbol', '~=', 1], ['number', '0x1F', 1], ['name', 'and', 1],
      ['number', '3.5e+2', 1], ['name', 'or', 1], ['number', '.5', 1],
    ]);
  });

  it('knows the Momentum operators != ^^ and \\ and the 5.3 ones << >> //', () => {
    expect(kinds('a != b ^^ c \\ d << 1 >> 2 // 3').filter(([k]) => k === 'symbol').map(([, t]) => t)).toEqual(['!=', '^^', '\\', '<<', '>>', '//']);
  });

  it('keeps strings, long strings and comments whole, with the line each starts on', () => {
    const src = ['s = "a -- b \\" c"', '-- x == y', "t = 'it''s'", '--[==[ a', ' ]] b ]==] u = [[', 'x < y', ']]', 'v'].join('\n');
    expect(kinds(src)).toEqual([
      ['name', 's', 1], ['symbol', '=', 1], ['string', '"a -- b \\" c"', 1],
      ['comment', '-- x == y', 2],
      ['name', 't', 3], ['symbol', '=', 3], ['string', "'it'", 3], ['string', "'s'", 3],
      ['comment', '--[==[ a\n ]] b ]==]', 4], ['name', 'u', 5], ['symbol', '=', 5], ['longString', '[[\nx < y\n]]', 5],
      ['name', 'v', 8],
    ]);
  });

  it('counts CR LF and lone CR as one line break each', () => {
    expect(kinds('a\r\nb\rc\n\rd').map(([, t, l]) => [t, l])).toEqual([['a', 1], ['b', 2], ['c', 3], ['d', 4]]);
    expect(kinds('x = "a\\\r\nb"\ny').at(-1)).toEqual(['name', 'y', 3]);
  });

  it('ends an unfinished string at its line break and an unclosed long bracket at the end', () => {
    expect(kinds('a = "open\nb')).toEqual([['name', 'a', 1], ['symbol', '=', 1], ['string', '"open', 1], ['name', 'b', 2]]);
    expect(kinds('c = [[ never closed\nx')).toEqual([['name', 'c', 1], ['symbol', '=', 1], ['longString', '[[ never closed\nx', 1]]);
    expect(kinds('s = "ends in \\')).toEqual([['name', 's', 1], ['symbol', '=', 1], ['string', '"ends in \\', 1]]);
  });

  it('tells plain decimal integers from other numerals', () => {
    const src = '42 4.2 1e3 0x10 7';
    expect(tokenizeLua(src).map((t) => isDecimalIntegerToken(src, t))).toEqual([true, false, false, false, true]);
  });

  it('is what both the dialect pre-pass and the mutation check read', () => {
    const src = 'if a != 3 then s = "x != 3 \\-" end -- b != 4\nreturn c < [[d > e]]';
    expect(translateMomentum(src)).toBe('if a ~= 3.0 then s = "x != 3 -" end -- b != 4\nreturn c < [[d > e]]');
    expect(findComparisons(src).map((c) => [c.op, c.line])).toEqual([['!=', 1], ['<', 2]]);
  });
});
