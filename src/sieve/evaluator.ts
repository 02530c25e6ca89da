import type { Arg, Statement, TestNode } from './ast.ts';
import { bindCommand } from './commands.ts';
import { SieveRuntimeError } from './errors.ts';
import type { BoundCall, CommandSpec } from './spec.ts';
import { asList, evalArg, type Run, type Value } from './values.ts';
import type { SievePhase } from './config.ts';

/**
 * Scripts are compiled to closures once, at load: each statement and test
 * becomes a function over the run, with its command already looked up and
 * checked. A session only calls them.
 */
export type Exec = (rt: Run) => void;
type TestFn = (rt: Run) => boolean;

/** How a failing command is handled (Momentum's sieve `runtime_error` option). */
export type RuntimeErrorMode = 'fail' | 'continue';

export interface CompileContext {
  readonly file: string;
  readonly phase: SievePhase;
  readonly onError: RuntimeErrorMode;
}

export function compileBlock(stmts: readonly Statement[], cx: CompileContext): Exec {
  const steps = stmts.map((s) => compileStatement(s, cx));
  return (rt) => {
    for (let i = 0; i < steps.length; i++) {
      steps[i]!(rt);
      if (rt.done) return;
    }
  };
}

function compileStatement(s: Statement, cx: CompileContext): Exec {
  switch (s.kind) {
    case 'require':
      return () => {};
    case 'stop':
      return (rt) => {
        rt.done = true;
      };
    case 'command': {
      const { spec, call } = bindCommand(cx.file, cx.phase, s.command, 'action');
      return (rt) => {
        guarded(rt, cx, call, spec, undefined);
      };
    }
    case 'assign': {
      const targets = s.targets;
      let produce: (rt: Run) => Value | undefined;
      if (s.value.kind === 'command') {
        const { spec, call } = bindCommand(cx.file, cx.phase, s.value.command, 'value');
        produce = (rt) => guarded(rt, cx, call, spec, '') as Value | undefined;
      } else {
        const arg: Arg = s.value.arg;
        produce = (rt) => evalArg(rt, arg);
      }
      if (!s.list) {
        const name = targets[0]!;
        return (rt) => {
          const v = produce(rt);
          if (v !== undefined) rt.vars.set(name, v);
        };
      }
      return (rt) => {
        const v = produce(rt);
        if (v === undefined) return;
        const items = asList(v);
        targets.forEach((t, i) => rt.vars.set(t, items[i] ?? ''));
      };
    }
    case 'if': {
      const branches = s.branches.map((b) => ({ test: compileTest(b.test, cx), body: compileBlock(b.body, cx) }));
      const otherwise = s.otherwise === undefined ? undefined : compileBlock(s.otherwise, cx);
      return (rt) => {
        for (const b of branches) {
          if (b.test(rt)) {
            b.body(rt);
            return;
          }
        }
        otherwise?.(rt);
      };
    }
  }
}

function compileTest(t: TestNode, cx: CompileContext): TestFn {
  switch (t.kind) {
    case 'const':
      return t.value ? () => true : () => false;
    case 'not': {
      const inner = compileTest(t.test, cx);
      return (rt) => !inner(rt);
    }
    case 'allof': {
      const tests = t.tests.map((x) => compileTest(x, cx));
      return (rt) => tests.every((f) => f(rt));
    }
    case 'anyof': {
      const tests = t.tests.map((x) => compileTest(x, cx));
      return (rt) => tests.some((f) => f(rt));
    }
    case 'command': {
      const { spec, call } = bindCommand(cx.file, cx.phase, t.command, 'test');
      return (rt) => guarded(rt, cx, call, spec, false) === true;
    }
  }
}

/**
 * Runs one command. A failure becomes a SieveRuntimeError naming file:line;
 * with runtime_error = continue it is logged and the command yields
 * `fallback` (a test is false, a value is "", an action did nothing).
 */
function guarded(rt: Run, cx: CompileContext, call: BoundCall, spec: CommandSpec, fallback: Value | boolean | undefined): Value | boolean | undefined {
  try {
    return spec.run(rt, call);
  } catch (err) {
    const message = `${call.file}:${call.pos.line}:${call.pos.col}: ${call.name}: ${(err as Error).message}`;
    if (cx.onError === 'continue') {
      rt.log().warn({ sieve: call.file, line: call.pos.line, command: call.name, code: (err as { code?: string }).code }, `sieve runtime error (continuing): ${message}`);
      return fallback;
    }
    throw new SieveRuntimeError(message, { cause: err });
  }
}
