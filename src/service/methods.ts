import { InvalidArgumentError } from '../errors.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyFunction = (...args: any[]) => unknown;

/**
 * The callable methods of a service instance: function-valued properties, own or inherited, found
 * up to (not including) Object.prototype. Excluded: `constructor`, names starting with `_` (so
 * `__proto__`, `__defineGetter__`, ... and private helpers), symbol keys, accessors.
 */
export function collectMethods(instance: object): Map<string, AnyFunction> {
  const methods = new Map<string, AnyFunction>();
  for (let o: object | null = instance; o !== null && o !== Object.prototype && o !== Function.prototype; o = Object.getPrototypeOf(o)) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (methods.has(name) || !isCallableName(name)) continue;
      const descriptor = Object.getOwnPropertyDescriptor(o, name);
      if (descriptor === undefined || !('value' in descriptor) || typeof descriptor.value !== 'function') continue;
      methods.set(name, descriptor.value as AnyFunction);
    }
  }
  return methods;
}

export function isCallableName(name: string): boolean {
  return name !== 'constructor' && name.length > 0 && name.charCodeAt(0) !== 0x5f; /* _ */
}

/** What the service sees of its runtime when it is made: `new Class(options, context)` / `factory(options, context)`. */
export interface ServiceContext {
  /** The service's registered name. */
  readonly name: string;
  /** Which instance this is (0-based). */
  readonly instance: number;
  /**
   * Other services, called synchronously where the instance runs in a worker
   * (`context.services.kv.get('k')`); see ServiceClient.services.
   */
  readonly services: Record<string, Record<string, AnyFunction>>;
}

/**
 * Makes the service instance from what was registered: a class (called with `new`), a factory
 * function (called; may return a promise), or an object (used as it is).
 */
export async function instantiate(target: unknown, options: unknown, context: ServiceContext): Promise<object> {
  let instance: unknown;
  if (typeof target === 'function') {
    instance = isClass(target) ? new (target as new (o: unknown, c: ServiceContext) => object)(options, context) : await (target as AnyFunction)(options, context);
  } else {
    instance = target;
  }
  if (typeof instance !== 'object' || instance === null) {
    throw new InvalidArgumentError(`service '${context.name}': the factory must return an object with methods, got ${describe(instance)}`);
  }
  return instance;
}

function isClass(fn: unknown): boolean {
  return typeof fn === 'function' && /^class[\s{]/.test(Function.prototype.toString.call(fn));
}

function describe(value: unknown): string {
  return value === null ? 'null' : typeof value;
}

/** A service instance's callable methods, by name (hosts look each request's method up here). */
export class MethodTable {
  private readonly names: string[] = [];
  private readonly fns: AnyFunction[] = [];
  private readonly byName = new Map<string, number>();

  constructor(methods: Map<string, AnyFunction>) {
    for (const [name, fn] of methods) {
      this.byName.set(name, this.fns.length);
      this.names.push(name);
      this.fns.push(fn);
    }
  }

  get methodNames(): string[] {
    return [...this.names];
  }

  /** Index of the method `name`, or -1. */
  findName(name: string): number {
    return this.byName.get(name) ?? -1;
  }

  fn(index: number): AnyFunction {
    return this.fns[index]!;
  }

  name(index: number): string {
    return this.names[index]!;
  }
}
