/**
 * A thin, position-aware view over a parsed YAML document, so every schema
 * error in a fixture can name file:line:col. The loader asks a node for the
 * shape it needs (map with these keys, string, integer …) and the node throws a
 * FixtureSchemaError pointing at itself when the shape is wrong.
 */
import { Document, isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { FixtureSchemaError, FixtureSyntaxError, type SourcePos } from './errors.ts';

interface Source {
  readonly file: string;
  readonly lines: LineCounter | undefined;
}

export class YNode {
  constructor(
    readonly node: Node | null,
    private readonly src: Source,
    /** Where to point when the node itself has no position (a missing key, a plain object). */
    private readonly fallback: SourcePos,
  ) {}

  get pos(): SourcePos {
    const range = this.node?.range;
    if (range === undefined || range === null || this.src.lines === undefined) return this.fallback;
    const { line, col } = this.src.lines.linePos(range[0]);
    return { file: this.src.file, line, col };
  }

  fail(problem: string): never {
    throw new FixtureSchemaError(this.pos, problem);
  }

  get isNull(): boolean {
    return this.node === null || (isScalar(this.node) && this.node.value === null);
  }

  get isMap(): boolean {
    return isMap(this.node);
  }

  get isSeq(): boolean {
    return isSeq(this.node);
  }

  get isScalar(): boolean {
    return isScalar(this.node);
  }

  /** The scalar's value (string, number, boolean or null). */
  scalar(what: string): string | number | boolean | null {
    if (this.node === null) return null;
    if (!isScalar(this.node)) this.fail(`${what} must be a single value, not a ${isMap(this.node) ? 'map' : 'list'}`);
    const v = this.node.value;
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
    return this.fail(`${what} has an unsupported value`);
  }

  string(what: string): string {
    const v = this.scalar(what);
    if (typeof v === 'string') return v;
    if (typeof v === 'number') return String(v);
    return this.fail(`${what} must be text`);
  }

  number(what: string): number {
    const v = this.scalar(what);
    if (typeof v !== 'number' || !Number.isFinite(v)) return this.fail(`${what} must be a number`);
    return v;
  }

  /** A whole number in [min, max]. */
  int(what: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.scalar(what);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      return this.fail(`${what} must be a whole number${max === Number.MAX_SAFE_INTEGER ? ` >= ${min}` : ` from ${min} to ${max}`}`);
    }
    return v;
  }

  /** A string that must be one of `allowed`. */
  oneOf<T extends string>(what: string, allowed: readonly T[], hint = ''): T {
    const v = this.string(what);
    if (!(allowed as readonly string[]).includes(v)) {
      return this.fail(`${what} must be ${allowed.slice(0, -1).join(', ')}${allowed.length > 1 ? ' or ' : ''}${allowed[allowed.length - 1]}${hint}`);
    }
    return v as T;
  }

  bool(what: string): boolean {
    const v = this.scalar(what);
    if (typeof v !== 'boolean') return this.fail(`${what} must be true or false`);
    return v;
  }

  list(what: string): YNode[] {
    if (!isSeq(this.node)) return this.fail(`${what} must be a list`);
    return this.node.items.map((item) => this.child(item as Node | null));
  }

  /** A map whose keys are all in `allowed` (unknown keys are typos, and typos must not pass). */
  map(what: string, allowed?: readonly string[]): YMap {
    if (!isMap(this.node)) return this.fail(`${what} must be a map of settings`);
    const entries = new Map<string, { key: YNode; value: YNode }>();
    for (const pair of this.node.items) {
      const keyNode = this.child(pair.key as Node | null);
      const key = keyNode.scalar(`a key in ${what}`);
      if (typeof key !== 'string' && typeof key !== 'number') keyNode.fail(`keys in ${what} must be names`);
      const name = String(key);
      if (allowed !== undefined && !allowed.includes(name)) {
        keyNode.fail(`unknown key "${name}" in ${what} (expected one of: ${allowed.join(', ')})`);
      }
      entries.set(name, { key: keyNode, value: this.child(pair.value as Node | null, keyNode.pos) });
    }
    return new YMap(this, entries);
  }

  private child(node: Node | null, fallback?: SourcePos): YNode {
    return new YNode(node, this.src, fallback ?? this.pos);
  }
}

export class YMap {
  constructor(
    readonly self: YNode,
    private readonly entries: Map<string, { key: YNode; value: YNode }>,
  ) {}

  keys(): string[] {
    return [...this.entries.keys()];
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  get(key: string): YNode | undefined {
    return this.entries.get(key)?.value;
  }

  /** The key node, to point at the key itself rather than its value. */
  keyNode(key: string): YNode | undefined {
    return this.entries.get(key)?.key;
  }

  require(key: string, what: string): YNode {
    const v = this.get(key);
    if (v === undefined) return this.self.fail(`${what} needs "${key}"`);
    return v;
  }
}

/** Parses fixture text; a YAML syntax error becomes a FixtureSyntaxError at its line. */
export function parseYaml(text: string, file: string): YNode {
  const lines = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter: lines, keepSourceTokens: true, prettyErrors: true });
  const first = doc.errors[0];
  if (first !== undefined) {
    const at = first.linePos?.[0];
    const problem = first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new FixtureSyntaxError({ file, ...(at ? { line: at.line, col: at.col } : {}) }, `YAML: ${problem}`, { cause: first });
  }
  return new YNode(doc.contents as Node | null, { file, lines }, { file, line: 1, col: 1 });
}

/** Wraps a plain object (the programmatic API) in the same view; it has no positions. */
export function yamlFromValue(value: unknown, label: string): YNode {
  const doc = new Document(value);
  return new YNode(doc.contents as Node | null, { file: label, lines: undefined }, { file: label });
}
