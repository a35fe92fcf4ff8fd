// What the value codec (src/codec/values) gives back differs from structured clone in two ways
// that tests account for: -0 as a number arrives as 0 (in a typed array it is bytes, and kept), and an object with an own `__proto__` property is refused.

/** `value` with every -0 number (also boxed) made 0; typed arrays, whose bytes travel as they are, and the rest as it is. */
export function withoutNegativeZero(value: unknown): unknown {
  if (Object.is(value, -0)) return 0;
  if (value instanceof Number && Object.is(value.valueOf(), -0)) return new Number(0);
  if (Array.isArray(value)) {
    const out = new Array(value.length);
    value.forEach((v, i) => (out[i] = withoutNegativeZero(v))); // (holes stay holes)
    return out;
  }
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [withoutNegativeZero(k), withoutNegativeZero(v)]));
  if (value instanceof Set) return new Set([...value].map(withoutNegativeZero));
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) Object.defineProperty(out, k, { value: withoutNegativeZero(v), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return value;
}

/** True when some object in `value` has an own property named `__proto__`. */
export function hasProtoKey(value: unknown, seen = new Set<unknown>()): boolean {
  if (value === null || typeof value !== 'object' || seen.has(value)) return false;
  seen.add(value);
  if (Object.hasOwn(value, '__proto__')) return true;
  const children = value instanceof Map ? [...value.keys(), ...value.values()] : value instanceof Set ? [...value] : ArrayBuffer.isView(value) ? [] : Object.values(value);
  return children.some((child) => hasProtoKey(child, seen));
}
