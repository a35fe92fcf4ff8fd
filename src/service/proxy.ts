import { UnknownServiceError } from './errors.js';
import { isCallableName, type AnyFunction } from './methods.js';

/**
 * Names that code which merely handles an object looks up on it — `await` (then), JSON.stringify
 * (toJSON), util.inspect and test matchers — never remote methods: on a proxy they are
 * undefined, so passing one around never fires a call. Symbols, and names a service cannot
 * serve (`constructor`, `_…`), are undefined too.
 */
const NOT_METHODS: ReadonlySet<string> = new Set(['then', 'toJSON', 'inspect', 'valueOf', 'toString', 'toLocaleString', 'asymmetricMatch', '$$typeof', 'nodeType']);

function isRemoteName(property: string | symbol): property is string {
  return typeof property === 'string' && !NOT_METHODS.has(property) && isCallableName(property);
}

/** `T`'s methods, each returning a promise of its (awaited) result. */
export type AsyncProxy<T> = {
  [K in keyof T as T[K] extends AnyFunction ? K : never]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
};

/** `T`'s methods, each returning its (awaited) result synchronously — a blocking call in a worker. */
export type SyncProxy<T> = {
  [K in keyof T as T[K] extends AnyFunction ? K : never]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Awaited<R> : never;
};

/**
 * An object whose every string property is a function calling `invoke(name, args)`, except the
 * NOT_METHODS names and symbols (undefined): not thenable, so it can be returned from async
 * functions, and JSON.stringify or inspecting it calls nothing.
 */
export function methodProxy(invoke: (method: string, args: unknown[]) => unknown): Record<string, AnyFunction> {
  const functions = new Map<string, AnyFunction>();
  return new Proxy(Object.create(null) as Record<string, AnyFunction>, {
    get(_target, property) {
      if (!isRemoteName(property)) return undefined;
      let fn = functions.get(property);
      if (fn === undefined) {
        fn = (...args: unknown[]) => invoke(property, args);
        functions.set(property, fn);
      }
      return fn;
    },
    set() {
      return false;
    },
  });
}

/**
 * `services.<name>` → the proxy of that service, made on first use; an unknown name throws
 * UnknownServiceError (symbols and the NOT_METHODS names that are not services' are undefined).
 */
export function servicesRecord(names: () => string[], make: (name: string) => Record<string, AnyFunction> | undefined): Record<string, Record<string, AnyFunction>> {
  const proxies = new Map<string, Record<string, AnyFunction>>();
  const lookup = (property: string | symbol): Record<string, AnyFunction> | undefined => {
    if (typeof property !== 'string') return undefined;
    if ((NOT_METHODS.has(property) || property === 'constructor') && !names().includes(property)) return undefined;
    let proxy = proxies.get(property);
    if (proxy === undefined) {
      proxy = make(property);
      if (proxy === undefined) throw new UnknownServiceError(property);
      proxies.set(property, proxy);
    }
    return proxy;
  };
  return new Proxy(Object.create(null) as Record<string, Record<string, AnyFunction>>, {
    get(_target, property) {
      return lookup(property);
    },
    has(_target, property) {
      return typeof property === 'string' && names().includes(property);
    },
    ownKeys() {
      return names();
    },
    getOwnPropertyDescriptor(_target, property) {
      if (typeof property !== 'string' || !names().includes(property)) return undefined;
      return { enumerable: true, configurable: true, writable: false, value: lookup(property) };
    },
    set() {
      return false;
    },
  });
}
