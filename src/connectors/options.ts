import { InvalidArgumentError } from '../errors.js';

/** Throws for anything but an object whose keys are all in `keys` (the error names the valid ones). */
export function checkKeys(what: string, options: unknown, keys: readonly string[]): Record<string, unknown> {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${what} needs an options object`);
  for (const key of Object.keys(options)) {
    if (!keys.includes(key)) throw new InvalidArgumentError(`${what}: unknown option '${key}' (valid: ${keys.join(', ')})`);
  }
  return options as Record<string, unknown>;
}

export function positiveInteger(what: string, value: unknown, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new InvalidArgumentError(`${what} must be a positive integer, got ${String(value)}`);
  return v;
}

export function positiveNumber(what: string, value: unknown, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw new InvalidArgumentError(`${what} must be a positive number, got ${String(value)}`);
  return v;
}

/** A NATS subject or name: non-empty, no spaces; wildcards only where `wildcards` allows. */
export function subjectName(what: string, value: unknown, wildcards: boolean): string {
  if (typeof value !== 'string' || value.length === 0 || /\s/.test(value) || value.split('.').some((t) => t === '')) {
    throw new InvalidArgumentError(`${what} must be a NATS subject such as 'orders.eu', got ${JSON.stringify(value)}`);
  }
  if (!wildcards && /[*>]/.test(value)) throw new InvalidArgumentError(`${what} cannot hold wildcards, got '${value}'`);
  return value;
}

export function streamName(what: string, value: unknown): string {
  if (typeof value !== 'string' || !/^[^\s.*>/\\]+$/.test(value)) {
    throw new InvalidArgumentError(`${what} must be a JetStream name (no spaces, '.', '*', '>', '/' or '\\'), got ${JSON.stringify(value)}`);
  }
  return value;
}
