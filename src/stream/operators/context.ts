/** What an operator function gets besides the record. */
export interface OperatorContext {
  /** This instance's index, 0 … parallelism-1. */
  readonly instance: number;
  readonly parallelism: number;
  /** The operator's name. */
  readonly name: string;
  /** Registered services, called synchronously: `ctx.services.kv.get('k')`. */
  readonly services: Record<string, Record<string, (...args: unknown[]) => unknown>>;
}
