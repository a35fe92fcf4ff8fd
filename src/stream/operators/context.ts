import type { AnyTable } from '../../state/index.js';

/** What an operator function gets besides the record. */
export interface OperatorContext {
  /** This instance's index, 0 … parallelism-1. */
  readonly instance: number;
  readonly parallelism: number;
  /** The operator's name. */
  readonly name: string;
  /** Registered services, called synchronously: `ctx.services.kv.get('k')`. */
  readonly services: Record<string, Record<string, (...args: unknown[]) => unknown>>;
  /** Shared memory the environment gave every operator (`env.share(name, buffer)`), by name. */
  readonly shared: Readonly<Record<string, SharedArrayBuffer>>;
  /** The id of the HTTP request the current record derives from (ringflow/serve); undefined elsewhere. */
  readonly requestId?: string;
  /**
   * The origin of the record being processed: the request or message slot it derives from (the
   * serving source and JetStream set it; 0 = none, and outside a record's processing). Records the
   * operator emits meanwhile carry it on.
   */
  readonly origin?: number;
  /**
   * A table declared with env.table(name): in the keyed stage (the operators after keyBy), this
   * instance's partition of it; writing a key another instance owns throws TableKeyOwnershipError.
   * Elsewhere it throws ERR_TABLE_NOT_KEYED; an undeclared name, UnknownTableError.
   */
  table<V = any>(name: string): AnyTable<V>;
}
