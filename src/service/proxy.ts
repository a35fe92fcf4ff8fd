import { UnknownServiceError } from './errors.js';
import type { AnyFunction } from './methods.js';

/** `T`'s methods, each returning a promise of its (awaited) result. */
export type AsyncProxy<T> = {
  [K in keyof T as T[K] extends AnyFunction ? K : never]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
};

/** `T`'s methods, each returning its (awaited) result synchronously — a blocking call in a worker. */
export type SyncProxy<T> = {
  [K in keyof T as T[K] extends AnyFunction ? K : never]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Awaited<R> : never;
};

/**
 * An object whose every string property is a function calling `invoke(name, args)`. Not
 * thenable (`then` is undefined, so it can be returned from async functions) and symbol
 * properties are undefined (so inspecting it does not call anything).
 */
export function methodProxy(invoke: (method: string, args: unknown[]) => unknown): Record<string, AnyFunction> {
  const functions = new Map<string, AnyFunction>();
  return new Proxy(Object.create(null) as Record<string, AnyFunction>, {
    get(_target, property) {
      if (typeof property !== 'string' || property === 'then') return undefined;
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
 * UnknownServiceError (`then` and symbols are undefined).
 */
export function servicesRecord(names: () => string[], make: (name: string) => Record<string, AnyFunction> | undefined): Record<string, Record<string, AnyFunction>> {
  const proxies = new Map<string, Record<string, AnyFunction>>();
  const lookup = (property: string | symbol): Record<string, AnyFunction> | undefined => {
    if (typeof property !== 'string' || property === 'then') return undefined;
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
