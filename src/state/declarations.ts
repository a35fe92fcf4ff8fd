import { InvalidArgumentError, checkOptionKeys } from '../errors.js';

/** How a windowed table cuts time: fixed windows of `sizeMs` starting every `stepMs` (tumbling: step = size). */
export interface WindowSpec {
  readonly kind: 'tumbling' | 'hopping';
  readonly sizeMs: number;
  readonly stepMs: number;
  /** How long a window is kept after it ends (in table time); then it closes and is dropped. */
  readonly expiresMs: number;
}

export interface TableOptions<V> {
  /** Makes the value of a key that has none (Faust's `default=`); without it such a key reads `undefined`. */
  default?: () => V;
}

export interface WindowOptions {
  /** How long a window is kept once it has ended, in ms of table time. Default: the window's size. */
  expiresMs?: number;
}

/** What the store records of a declaration, to refuse a state folder written by other tables. */
export interface StoredTableDeclaration {
  readonly name: string;
  readonly window?: WindowSpec;
}

const TABLE_NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

function checkMs(what: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidArgumentError(`${what} must be an integer number of ms ≥ ${min}, got ${String(value)}`);
  }
  return value;
}

/**
 * A table as declared once per job (`env.table(name, { default })`, then optionally
 * `.tumbling(...)` or `.hopping(...)`). Operators reach it by name.
 */
export class TableDeclaration<V = unknown> {
  readonly name: string;
  readonly default: (() => V) | undefined;
  private windowSpec: WindowSpec | undefined;

  constructor(name: string, options: TableOptions<V> = {}) {
    if (typeof name !== 'string' || !TABLE_NAME.test(name)) {
      throw new InvalidArgumentError(`a table name is 1-128 characters of A-Z a-z 0-9 _ . : -, got ${JSON.stringify(name)}`);
    }
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError(`table '${name}': options must be an object`);
    checkOptionKeys(`table '${name}'`, options, ['default']);
    if (options.default !== undefined && typeof options.default !== 'function') {
      throw new InvalidArgumentError(`table '${name}': default must be a function that makes a value (e.g. () => 0)`);
    }
    this.name = name;
    this.default = options.default;
  }

  get window(): WindowSpec | undefined {
    return this.windowSpec;
  }

  /** Windows of `sizeMs`, one after another. */
  tumbling(sizeMs: number, options: WindowOptions = {}): this {
    return this.setWindow('tumbling', sizeMs, sizeMs, options);
  }

  /** Windows of `sizeMs` starting every `stepMs` (so a record falls in about size/step of them). */
  hopping(sizeMs: number, stepMs: number, options: WindowOptions = {}): this {
    return this.setWindow('hopping', sizeMs, stepMs, options);
  }

  private setWindow(kind: WindowSpec['kind'], sizeMs: number, stepMs: number, options: WindowOptions): this {
    const what = `table '${this.name}' .${kind}()`;
    if (this.windowSpec) throw new InvalidArgumentError(`${what}: the table is already windowed (${this.windowSpec.kind})`);
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError(`${what}: options must be an object`);
    checkOptionKeys(what, options, ['expiresMs']);
    checkMs(`${what} sizeMs`, sizeMs, 1);
    checkMs(`${what} stepMs`, stepMs, 1);
    if (stepMs > sizeMs) throw new InvalidArgumentError(`${what}: stepMs (${stepMs}) must not exceed sizeMs (${sizeMs})`);
    if (sizeMs / stepMs > 1024) throw new InvalidArgumentError(`${what}: a record would fall in ${Math.ceil(sizeMs / stepMs)} windows; at most 1024`);
    const expiresMs = options.expiresMs === undefined ? sizeMs : checkMs(`${what} expiresMs`, options.expiresMs, 0);
    this.windowSpec = { kind, sizeMs, stepMs, expiresMs };
    return this;
  }

  /** The part of the declaration that shapes stored state. */
  stored(): StoredTableDeclaration {
    return this.windowSpec ? { name: this.name, window: { ...this.windowSpec } } : { name: this.name };
  }
}

/** Stored forms of a job's tables, sorted by name; refuses two tables of one name. */
export function storedDeclarations(declarations: readonly TableDeclaration<any>[]): StoredTableDeclaration[] {
  const seen = new Set<string>();
  for (const d of declarations) {
    if (seen.has(d.name)) throw new InvalidArgumentError(`table '${d.name}' is declared twice`);
    seen.add(d.name);
  }
  return declarations.map((d) => d.stored()).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Differences between two declaration lists, in words (empty when they match). */
export function declarationDifferences(stored: readonly StoredTableDeclaration[], current: readonly StoredTableDeclaration[]): string[] {
  const describe = (d: StoredTableDeclaration) =>
    d.window ? `${d.window.kind} size ${d.window.sizeMs} ms step ${d.window.stepMs} ms expires ${d.window.expiresMs} ms` : 'plain';
  const byName = new Map(stored.map((d) => [d.name, d]));
  const out: string[] = [];
  for (const d of current) {
    const old = byName.get(d.name);
    if (!old) out.push(`table '${d.name}' is new`);
    else if (describe(old) !== describe(d)) out.push(`table '${d.name}' was ${describe(old)}, is now ${describe(d)}`);
    byName.delete(d.name);
  }
  for (const name of byName.keys()) out.push(`table '${name}' is no longer declared`);
  return out;
}
