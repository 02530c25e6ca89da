import type { Arg, CommandNode, Statement, StringArg, StringPart, TestNode } from './ast.ts';
import { SieveParseError, type SievePos } from './errors.ts';
import { tokenize, type Token } from './lexer.ts';

/** Nesting deeper than this (if in if, not in not, allof in anyof) is refused: recursion must stay bounded. */
const MAX_DEPTH = 64;
const INTERP = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|%\{[A-Za-z0-9_]+(?::[^}]*)?\}/g;

/**
 * A hand-written recursive-descent parser for the Sieve++ subset of
 * inbound-audit spec §9.1. It checks syntax only; which commands exist and
 * what arguments they take is checked by commands.ts against the result.
 */
export function parseSieve(file: string, src: string): Statement[] {
  return new Parser(file, tokenize(file, src)).script();
}

class Parser {
  private i = 0;
  private depth = 0;

  constructor(
    private readonly file: string,
    private readonly toks: Token[],
  ) {}

  script(): Statement[] {
    const out: Statement[] = [];
    while (this.peek().kind !== 'eof') out.push(this.statement());
    return out;
  }

  private statement(): Statement {
    const t = this.peek();
    if (t.kind === 'var') return this.scalarAssign();
    if (t.kind === 'punct' && t.text === '(') return this.listAssign();
    if (t.kind !== 'ident') this.fail(t, 'expected a command, "if", "$variable =" or "(" at the start of a statement');
    if (t.text === 'if') return this.ifStatement();
    if (t.text === 'elsif' || t.text === 'else') this.fail(t, `"${t.text}" without a preceding "if" block`);
    if (t.text === 'stop') {
      this.next();
      this.expectPunct(';', 'after "stop"');
      return { kind: 'stop', pos: t.pos };
    }
    if (t.text === 'require') {
      // Momentum needs no require; accepted and ignored so RFC scripts load.
      this.next();
      this.stringOrList('a capability name or list after "require"');
      this.expectPunct(';', 'after the require list');
      return { kind: 'require', pos: t.pos };
    }
    const command = this.command();
    this.expectPunct(';', `after the arguments of "${command.name}"`);
    return { kind: 'command', pos: t.pos, command };
  }

  private ifStatement(): Statement {
    const pos = this.next().pos;
    const branches: { test: TestNode; body: Statement[] }[] = [];
    branches.push({ test: this.test(), body: this.block() });
    let otherwise: Statement[] | undefined;
    for (;;) {
      const t = this.peek();
      if (t.kind === 'ident' && t.text === 'elsif') {
        this.next();
        branches.push({ test: this.test(), body: this.block() });
        continue;
      }
      if (t.kind === 'ident' && t.text === 'else') {
        this.next();
        otherwise = this.block();
      }
      break;
    }
    return otherwise === undefined ? { kind: 'if', pos, branches } : { kind: 'if', pos, branches, otherwise };
  }

  private block(): Statement[] {
    this.expectPunct('{', 'to open the block');
    this.enter();
    const out: Statement[] = [];
    for (;;) {
      const t = this.peek();
      if (t.kind === 'punct' && t.text === '}') break;
      if (t.kind === 'eof') this.fail(t, 'expected "}" to close the block, got the end of the script');
      out.push(this.statement());
    }
    this.next();
    this.depth--;
    return out;
  }

  private test(): TestNode {
    const t = this.peek();
    if (t.kind !== 'ident') this.fail(t, 'expected a test (a test command, allof, anyof, not, true or false)');
    this.enter();
    try {
      switch (t.text) {
        case 'allof':
        case 'anyof': {
          this.next();
          this.expectPunct('(', `after "${t.text}"`);
          const tests = [this.test()];
          while (this.isPunct(',')) {
            this.next();
            tests.push(this.test());
          }
          this.expectPunct(')', `to close "${t.text}(" (or "," before another test)`);
          return { kind: t.text, pos: t.pos, tests };
        }
        case 'not':
          this.next();
          return { kind: 'not', pos: t.pos, test: this.test() };
        case 'true':
        case 'false':
          this.next();
          return { kind: 'const', pos: t.pos, value: t.text === 'true' };
        default:
          return { kind: 'command', pos: t.pos, command: this.command() };
      }
    } finally {
      this.depth--;
    }
  }

  private command(): CommandNode {
    const name = this.next();
    if (name.kind !== 'ident') this.fail(name, 'expected a command name');
    const args: Arg[] = [];
    for (;;) {
      const t = this.peek();
      if (t.kind === 'tag') {
        this.next();
        args.push({ kind: 'tag', pos: t.pos, name: t.text });
      } else if (t.kind === 'string') {
        args.push(this.str());
      } else if (t.kind === 'number') {
        this.next();
        args.push({ kind: 'number', pos: t.pos, value: t.value! });
      } else if (t.kind === 'punct' && t.text === '[') {
        args.push(this.list());
      } else if (t.kind === 'var') {
        args.push(this.varRef());
      } else {
        break;
      }
    }
    return { name: name.text, pos: name.pos, args };
  }

  private scalarAssign(): Statement {
    const v = this.next();
    this.expectPunct('=', `after "$${v.text}" (assignment)`);
    return this.assignValue(v.pos, [v.text], false);
  }

  private listAssign(): Statement {
    const pos = this.next().pos;
    const targets: string[] = [];
    for (;;) {
      const v = this.next();
      if (v.kind !== 'var') this.fail(v, 'expected a "$variable" in the list assignment');
      targets.push(v.text);
      if (this.isPunct(',')) {
        this.next();
        continue;
      }
      break;
    }
    this.expectPunct(')', 'to close the variable list (or "," before another variable)');
    this.expectPunct('=', 'after the variable list');
    return this.assignValue(pos, targets, true);
  }

  private assignValue(pos: SievePos, targets: string[], list: boolean): Statement {
    const t = this.peek();
    let value: Extract<Statement, { kind: 'assign' }>['value'];
    if (t.kind === 'ident') value = { kind: 'command', command: this.command() };
    else if (t.kind === 'string') value = { kind: 'value', arg: this.str() };
    else if (t.kind === 'number') {
      this.next();
      value = { kind: 'value', arg: { kind: 'number', pos: t.pos, value: t.value! } };
    } else if (t.kind === 'punct' && t.text === '[') value = { kind: 'value', arg: this.list() };
    else if (t.kind === 'var') value = { kind: 'value', arg: this.varRef() };
    else this.fail(t, 'expected a command, a string, a number, a list or a $variable after "="');
    this.expectPunct(';', 'after the assigned value');
    return { kind: 'assign', pos, targets, list, value };
  }

  private varRef(): Arg {
    const v = this.next();
    if (this.isPunct('[')) {
      this.next();
      const k = this.peek();
      if (k.kind !== 'string') this.fail(k, `expected a quoted key in $${v.text}[…]`);
      const key = this.str();
      this.expectPunct(']', `to close $${v.text}["…"`);
      return { kind: 'index', pos: v.pos, name: v.text, key };
    }
    return { kind: 'var', pos: v.pos, name: v.text };
  }

  private list(): Arg {
    const open = this.next();
    const items: StringArg[] = [];
    if (!this.isPunct(']')) {
      for (;;) {
        const t = this.peek();
        if (t.kind !== 'string') this.fail(t, 'expected a string in the string list');
        items.push(this.str());
        if (this.isPunct(',')) {
          this.next();
          continue;
        }
        break;
      }
    }
    this.expectPunct(']', 'to close the string list (or "," before another string)');
    return { kind: 'list', pos: open.pos, items };
  }

  private stringOrList(what: string): void {
    const t = this.peek();
    if (t.kind === 'string') this.next();
    else if (t.kind === 'punct' && t.text === '[') this.list();
    else this.fail(t, `expected ${what}`);
  }

  private str(): StringArg {
    const t = this.next();
    return compileString(t.text, t.pos);
  }

  private enter(): void {
    if (++this.depth > MAX_DEPTH) this.fail(this.peek(), `blocks and tests nest deeper than ${MAX_DEPTH} levels`);
  }

  private peek(): Token {
    return this.toks[this.i]!;
  }

  private next(): Token {
    const t = this.toks[this.i]!;
    if (t.kind !== 'eof') this.i++;
    return t;
  }

  private isPunct(c: string): boolean {
    const t = this.peek();
    return t.kind === 'punct' && t.text === c;
  }

  private expectPunct(c: string, why: string): void {
    const t = this.peek();
    if (t.kind !== 'punct' || t.text !== c) this.fail(t, `expected "${c}" ${why}, got ${describe(t)}`);
    this.next();
  }

  private fail(t: Token, msg: string): never {
    const detail = msg.includes(', got ') ? msg : `${msg}, got ${describe(t)}`;
    throw new SieveParseError(this.file, t.pos, detail);
  }
}

/** Splits a string into literal text, ${var} references and %{…} macros. */
export function compileString(raw: string, pos: SievePos): StringArg {
  const parts: StringPart[] = [];
  let last = 0;
  let literal = true;
  for (const m of raw.matchAll(INTERP)) {
    if (m.index > last) parts.push({ lit: raw.slice(last, m.index) });
    if (m[1] !== undefined) parts.push({ var: m[1].toLowerCase() });
    else parts.push({ macro: m[0] });
    literal = false;
    last = m.index + m[0].length;
  }
  if (last < raw.length) parts.push({ lit: raw.slice(last) });
  return { kind: 'string', pos, raw, parts, literal };
}

function describe(t: Token): string {
  switch (t.kind) {
    case 'eof':
      return 'the end of the script';
    case 'string':
      return `the string "${t.text.length > 30 ? `${t.text.slice(0, 30)}…` : t.text}"`;
    case 'tag':
      return `the tag ":${t.text}"`;
    case 'var':
      return `"$${t.text}"`;
    case 'number':
      return `the number ${t.text}`;
    default:
      return `"${t.text}"`;
  }
}
