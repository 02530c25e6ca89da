/**
 * A position-aware view over a parsed config document. The schema code asks a
 * node for the shape it needs (a map with exactly these keys, a whole number in
 * a range …) and the node throws a ConfigError naming file, line and dotted
 * setting when the shape is wrong, so no message has to be assembled by hand.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { ConfigError } from './errors.ts';

interface Source {
  readonly file: string;
  readonly lines: LineCounter;
}

export class ConfigNode {
  constructor(
    private readonly node: Node | null,
    private readonly src: Source,
    /** Dotted setting path, "" for the document root. */
    readonly path: string,
    /** Line to report when the node has no position of its own (a missing key: its parent's line). */
    private readonly fallbackLine: number,
  ) {}

  get line(): number {
    const range = this.node?.range;
    if (range === undefined || range === null) return this.fallbackLine;
    return this.src.lines.linePos(range[0]).line;
  }

  get file(): string {
    return this.src.file;
  }

  get isMap(): boolean {
    return isMap(this.node);
  }

  get isNull(): boolean {
    return this.node === null || (isScalar(this.node) && this.node.value === null);
  }

  fail(problem: string, setting = this.path): never {
    throw new ConfigError(this.src.file, this.line, setting, problem);
  }

  /**
   * The node as a map whose keys must all be in `allowed`: an unknown key is a
   * typo until proven otherwise, and a typo must not silently fall back to a default.
   */
  map(allowed: readonly string[]): ConfigMap {
    if (this.isNull) return new ConfigMap(this, new Map());
    if (!isMap(this.node)) this.fail(`must be a map of settings, not ${this.describe()}`);
    const children = new Map<string, ConfigNode>();
    for (const pair of this.node.items) {
      const keyNode = pair.key as Node | null;
      const key = isScalar(keyNode) ? keyNode.value : undefined;
      const keyLine = keyNode?.range ? this.src.lines.linePos(keyNode.range[0]).line : this.line;
      if (typeof key !== 'string') {
        throw new ConfigError(this.src.file, keyLine, this.path, 'setting names must be plain text');
      }
      const path = this.path === '' ? key : `${this.path}.${key}`;
      if (!allowed.includes(key)) {
        throw new ConfigError(this.src.file, keyLine, path, `unknown setting (expected one of: ${allowed.join(', ')})`);
      }
      children.set(key, new ConfigNode((pair.value as Node | null) ?? null, this.src, path, keyLine));
    }
    return new ConfigMap(this, children);
  }

  list(): ConfigNode[] {
    if (!isSeq(this.node)) this.fail(`must be a list, not ${this.describe()}`);
    return this.node.items.map(
      (item, i) => new ConfigNode((item as Node | null) ?? null, this.src, `${this.path}[${i}]`, this.line),
    );
  }

  /** A list of one or more strings; a single string is accepted as a one-item list. */
  stringList(opts: { allowEmpty?: boolean } = {}): { value: string; node: ConfigNode }[] {
    const items = isScalar(this.node) && typeof this.node.value === 'string' ? [this as ConfigNode] : this.list();
    if (items.length === 0 && opts.allowEmpty !== true) this.fail('must list at least one entry');
    return items.map((n) => ({ value: n.string(), node: n }));
  }

  string(opts: { allowEmpty?: boolean } = {}): string {
    const v = this.scalar();
    if (typeof v !== 'string') this.fail(`must be text, not ${this.describe()}`);
    if (v.trim() === '' && opts.allowEmpty !== true) this.fail('must not be empty');
    // Config text ends up in SMTP replies and log lines: a control character
    // there would split a reply.
    if (/[\x00-\x1f\x7f]/.test(v)) this.fail('must not contain control characters (CR, LF, TAB …)');
    return v;
  }

  bool(): boolean {
    const v = this.scalar();
    if (typeof v !== 'boolean') this.fail(`must be true or false, not ${this.describe()}`);
    return v;
  }

  int(min: number, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.scalar();
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(`must be a whole number, not ${this.describe()}`);
    if (v < min || v > max) {
      this.fail(max === Number.MAX_SAFE_INTEGER ? `must be at least ${min} (got ${v})` : `must be from ${min} to ${max} (got ${v})`);
    }
    return v;
  }

  /** A number (fractions allowed) from min to max. */
  number(min: number, max: number): number {
    const v = this.scalar();
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(`must be a number, not ${this.describe()}`);
    if (v < min || v > max) this.fail(`must be from ${min} to ${max} (got ${v})`);
    return v;
  }

  oneOf<T extends string>(choices: readonly T[]): T {
    const v = this.string();
    if (!(choices as readonly string[]).includes(v)) this.fail(`must be one of ${choices.join(', ')} (got "${v}")`);
    return v as T;
  }

  private scalar(): unknown {
    if (this.node === null) return null;
    if (!isScalar(this.node)) this.fail(`must be a single value, not ${this.describe()}`);
    return this.node.value;
  }

  private describe(): string {
    if (this.node === null) return 'nothing';
    if (isMap(this.node)) return 'a map';
    if (isSeq(this.node)) return 'a list';
    if (isScalar(this.node)) {
      const v = this.node.value;
      if (v === null) return 'nothing';
      if (typeof v === 'string') return `"${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
      return String(v);
    }
    return 'an unsupported value';
  }
}

/** The children of a map node, read by key with defaults for absent settings. */
export class ConfigMap {
  constructor(
    readonly node: ConfigNode,
    private readonly children: Map<string, ConfigNode>,
  ) {}

  has(key: string): boolean {
    const c = this.children.get(key);
    return c !== undefined && !c.isNull;
  }

  /** The child, or a positionless null node (reported at the parent's line) when absent. */
  get(key: string): ConfigNode {
    return this.children.get(key) ?? this.missing(key);
  }

  required(key: string): ConfigNode {
    const c = this.children.get(key);
    if (c === undefined || c.isNull) return this.missing(key).fail('is required');
    return c;
  }

  /** The child read with `read`, or `fallback` when the setting is absent or empty. */
  opt<T>(key: string, fallback: T, read: (n: ConfigNode) => T): T {
    const c = this.children.get(key);
    return c === undefined || c.isNull ? fallback : read(c);
  }

  private missing(key: string): ConfigNode {
    const path = this.node.path === '' ? key : `${this.node.path}.${key}`;
    return new ConfigNode(null, { file: this.node.file, lines: new LineCounter() }, path, this.node.line);
  }
}

/** Parses YAML (JSON is read strictly when the file says it is JSON) into a root node. */
export function parseConfigDocument(text: string, file: string): ConfigNode {
  const looksJson = /\.json$/i.test(file) || /^\s*\{/.test(text);
  if (looksJson) {
    try {
      JSON.parse(text);
    } catch (err) {
      throw new ConfigError(file, jsonErrorLine(text, err), '', `not valid JSON: ${(err as Error).message}`, { cause: err });
    }
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const first = doc.errors[0];
  if (first !== undefined) {
    const line = first.linePos?.[0]?.line ?? lines.linePos(first.pos[0]).line;
    throw new ConfigError(file, line, '', `not valid YAML: ${first.message.split('\n')[0]}`, { cause: first });
  }
  if (doc.contents === null) throw new ConfigError(file, 0, '', 'the file is empty');
  return new ConfigNode(doc.contents as Node, { file, lines }, '', 1);
}

function jsonErrorLine(text: string, err: unknown): number {
  const m = /position (\d+)/.exec((err as Error).message);
  if (m === null) return 0;
  return text.slice(0, Number(m[1])).split('\n').length;
}
