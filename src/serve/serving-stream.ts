import { op, type DataStream, type Fn, type KeyByOptions, type OperatorContext, type OperatorOptions } from '../stream/index.js';
import { toFnRef } from '../stream/plan/function-check.js';
import type { Envelope } from './envelope.js';

const TRACKED_MODULE = new URL(`./tracked-op${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url).href;

/** What a serving stream needs from the environment: operator names. */
export interface Namer {
  nextName(kind: string): string;
}

/**
 * The records of HTTP requests, as the `build` function of serve() gets them: map, filter,
 * flatMap and keyBy, with `ctx.requestId` set in every operator. Each record derived from a
 * request is counted as the request's until it reaches the response (or is filtered out).
 */
export class ServingStream<T> {
  /** @internal */
  constructor(
    /** @internal */ readonly stream: DataStream<Envelope>,
    private readonly namer: Namer,
  ) {}

  map<R>(fn: Fn<[T, OperatorContext], R>, options: OperatorOptions = {}): ServingStream<R> {
    return this.tracked('map', fn, options);
  }

  filter(fn: Fn<[T, OperatorContext], unknown>, options: OperatorOptions = {}): ServingStream<T> {
    return this.tracked('filter', fn, options);
  }

  flatMap<R>(fn: Fn<[T, OperatorContext], Iterable<R>>, options: OperatorOptions = {}): ServingStream<R> {
    return this.tracked('flatMap', fn, options);
  }

  /** Routes records by key to the next operator's instances (order per key kept). */
  keyBy<K>(key: Fn<[T], K>, options: KeyByOptions = {}): ServingStream<T> {
    // The user's key runs in a worker (beside the operator before it), which stores it on the
    // record; the shuffle routes by that stored key.
    const keyed = this.tracked<T>('keyOf', key, { name: this.namer.nextName('keyBy') });
    return new ServingStream<T>(keyed.stream.keyBy((record: Envelope) => record.k, options), this.namer);
  }

  private tracked<R>(kind: 'map' | 'filter' | 'flatMap' | 'keyOf', fn: unknown, options: OperatorOptions): ServingStream<R> {
    const name = options.name ?? this.namer.nextName(kind);
    const next = this.stream.flatMap(trackedRef(kind, fn, name) as Fn<[Envelope, OperatorContext], Iterable<Envelope>>, { ...options, name });
    return new ServingStream<R>(next, this.namer);
  }
}

/** The user's function, checked and made shippable here, inside a tracked-op module of its own. */
function trackedRef(kind: string, fn: unknown, name: string) {
  const ref = toFnRef(fn, name);
  const query = new URLSearchParams({ op: kind, name, ref: JSON.stringify(ref) });
  return op(`${TRACKED_MODULE}?${query.toString()}`, 'fn');
}
