import { InvalidArgumentError as CommanderArgumentError } from 'commander';

/** Parses a flag's value as an integer in [min, max], or tells commander the value is wrong. */
export function integerOption(name: string, min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new CommanderArgumentError(`${name} must be an integer from ${min} to ${max}, got '${value}'`);
    }
    return n;
  };
}
