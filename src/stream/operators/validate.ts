import { InvalidArgumentError } from '../../errors.js';

// Checks of user-supplied options. They run when an operator is built, never per record, and each
// message names the option and the rule it broke.

export function requirePositiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new InvalidArgumentError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

export function requirePositiveFinite(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(`${name} must be a positive finite number, got ${String(value)}`);
  }
  return value;
}

export function requireNonNegativeFinite(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(`${name} must be a finite number >= 0, got ${String(value)}`);
  }
  return value;
}

export function requireFinite(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidArgumentError(`${name} must be a finite number, got ${String(value)}`);
  }
  return value;
}

/** Per record: a NaN or infinite timestamp would silently corrupt window and timer arithmetic. */
export function requireTimestamp(ts: number): void {
  if (!Number.isFinite(ts)) throw new InvalidArgumentError(`record timestamp must be a finite number, got ${String(ts)}`);
}
