import { checkOptions, InvalidArgumentError } from '../../errors.js';
import type { SharedRing } from '../../ring/index.js';
import type { OpRef } from '../../pool/index.js';
import type { FnRef } from '../plan/functions.js';
import { toFnRef } from '../plan/function-check.js';
import type { AggregateFns, Edge, GraphNode, NodeSpec, Partition, StreamGraph, VectorMetric, WindowSpec } from '../plan/graph.js';
import { sinkWriter, type SinkConnector } from './connector.js';

export type { OperatorContext } from '../operators/context.js';
import type { OperatorContext } from '../operators/context.js';

export type Fn<A extends unknown[], R> = ((...args: A) => R) | OpRef;

export interface OperatorOptions {
  parallelism?: number;
  name?: string;
}

export interface SinkOptions {
  name?: string;
  /**
   * Hand vector records to the callback with their vector as a view over the ring (no copy),
   * valid only until the callback returns: copy it (`vector.slice()`) to keep it. Faster for
   * callbacks that read the vector and keep nothing.
   */
  vectorViews?: boolean;
  /**
   * Records reach the callback only up to the barrier a `job.barrier(epoch)` asks for, and wait
   * in the sink's ring until then (`job.releaseSinks()` lets everything through). For feeds whose
   * records the operators may process before the caller asks for them (SageFlowService's eager
   * runs): the callback still sees them only during the run they belong to.
   */
  gated?: boolean;
}

export interface KeyByOptions {
  /** 'hash' (default): a key always reaches the same instance. 'broadcast': every instance gets every record. */
  strategy?: 'hash' | 'broadcast' | 'roundRobin';
}

const OPERATOR_OPTIONS = ['parallelism', 'name'] as const satisfies readonly (keyof OperatorOptions)[];
const SINK_OPTIONS = ['name', 'vectorViews', 'gated'] as const satisfies readonly (keyof SinkOptions)[];
const KEY_BY_OPTIONS = ['strategy'] as const satisfies readonly (keyof KeyByOptions)[];
const WINDOW_OPTIONS = ['count', 'tumbling', 'sliding', 'slide', 'session', 'on', 'allowedLatenessMs'] as const satisfies readonly (keyof WindowSpec)[];

export interface Aggregator<T, A, R> {
  createAccumulator: Fn<[], A>;
  add: Fn<[A, T], A>;
  getResult?: Fn<[A], R>;
  merge?: Fn<[A, A], A>;
}

export interface WindowResult<R, K = unknown> {
  key: K;
  window: { start: number; end: number };
  value: R;
}

/** Anything DataStream needs from its environment (kept narrow to avoid an import cycle). */
export interface GraphOwner {
  readonly graph: StreamGraph;
  nextName(kind: string): string;
}

/**
 * A stream of records of type T. Every call adds a node to the environment's graph and returns
 * the stream after it; nothing runs until `env.execute()`.
 */
export class DataStream<T> {
  constructor(
    protected readonly owner: GraphOwner,
    readonly node: GraphNode,
    /** How the next operator's input is partitioned (set by keyBy). */
    protected readonly nextPartition: Partition = { kind: 'forward' },
  ) {}

  map<R>(fn: Fn<[T, OperatorContext], R>, options?: OperatorOptions): DataStream<R> {
    return this.unary('map', fn, options);
  }

  filter(fn: Fn<[T, OperatorContext], unknown>, options?: OperatorOptions): DataStream<T> {
    return this.unary('filter', fn, options);
  }

  flatMap<R>(fn: Fn<[T, OperatorContext], Iterable<R>>, options?: OperatorOptions): DataStream<R> {
    return this.unary('flatMap', fn, options);
  }

  /** Routes records by key to the next operator's instances. */
  keyBy<K>(key: Fn<[T], K>, options?: KeyByOptions): KeyedStream<T, K> {
    options = checkOptions('keyBy', options, KEY_BY_OPTIONS);
    const strategy = options.strategy ?? 'hash';
    const keyRef = toFnRef(key, `keyBy after ${this.node.name}`);
    const partition: Partition =
      strategy === 'hash' ? { kind: 'hash', key: keyRef }
      : strategy === 'broadcast' ? { kind: 'broadcast' }
      : strategy === 'roundRobin' ? { kind: 'roundRobin' }
      : invalid(`keyBy strategy must be 'hash', 'broadcast' or 'roundRobin', got ${String(strategy)}`);
    return new KeyedStream<T, K>(this.owner, this.node, partition, keyRef);
  }

  /** Windows over the whole (unkeyed) stream: one instance sees everything. */
  window(spec: WindowSpec): WindowedStream<T, null> {
    return new WindowedStream<T, null>(this.owner, this, validateWindow(spec), null, { kind: 'roundRobin' });
  }

  /**
   * Joins with `other` where the keys are equal and the timestamps are within `withinMs` of each
   * other (an interval join). Emits `select(left, right)`, by default `[left, right]`.
   */
  join<U, R = [T, U]>(
    other: DataStream<U>,
    options: OperatorOptions & { leftKey: Fn<[T], unknown>; rightKey: Fn<[U], unknown>; withinMs: number; select?: Fn<[T, U], R> },
  ): DataStream<R> {
    checkOptions('join', options, [...OPERATOR_OPTIONS, 'leftKey', 'rightKey', 'withinMs', 'select']);
    const name = options.name ?? this.owner.nextName('join');
    const leftKey = toFnRef(options.leftKey, name);
    const rightKey = toFnRef(options.rightKey, name);
    const spec: NodeSpec = {
      kind: 'join',
      leftKey,
      rightKey,
      withinMs: nonNegative(options.withinMs, 'withinMs'),
      select: options.select === undefined ? undefined : toFnRef(options.select, name),
    };
    const inputs: Edge[] = [
      { from: this.node, partition: { kind: 'hash', key: leftKey }, port: 0 },
      { from: other.node, partition: { kind: 'hash', key: rightKey }, port: 1 },
    ];
    return this.derive(this.owner.graph.add(spec, name, inputs, parallelismOf(options)));
  }

  /**
   * Pairs of vectors, one from each stream, whose similarity reaches `threshold` within
   * `withinMs` of each other (SAGE-Flow's similarity join). Records must carry `vector`.
   * l2 similarity is exp(-0.1·distance); cosine is the cosine.
   */
  similarityJoin<U, R = [T, U, number]>(
    other: DataStream<U>,
    options: OperatorOptions & { threshold: number; metric?: 'l2' | 'cosine'; withinMs: number; select?: Fn<[T, U, number], R> },
  ): DataStream<R> {
    checkOptions('similarityJoin', options, [...OPERATOR_OPTIONS, 'threshold', 'metric', 'withinMs', 'select']);
    const name = options.name ?? this.owner.nextName('similarityJoin');
    const spec: NodeSpec = {
      kind: 'similarityJoin',
      threshold: finite(options.threshold, 'threshold'),
      metric: options.metric ?? 'l2',
      withinMs: nonNegative(options.withinMs, 'withinMs'),
      select: options.select === undefined ? undefined : toFnRef(options.select, name),
    };
    // Every pair must meet in one instance: without a key, one instance does the join.
    const inputs: Edge[] = [
      { from: this.node, partition: { kind: 'roundRobin' }, port: 0 },
      { from: other.node, partition: { kind: 'roundRobin' }, port: 1 },
    ];
    return this.derive(this.owner.graph.add(spec, name, inputs, 1));
  }

  /**
   * Drops near-duplicates: a record whose `vector` reaches `threshold` similarity with one of the
   * last `capacity` records let through (within `withinMs`, when set) goes to the 'duplicate'
   * side output instead (`env.onSideOutput`). Runs as one instance, so every pair can meet.
   */
  dedupe(options: OperatorOptions & { threshold: number; metric?: 'l2' | 'cosine'; capacity?: number; withinMs?: number }): DataStream<T> {
    checkOptions('dedupe', options, [...OPERATOR_OPTIONS, 'threshold', 'metric', 'capacity', 'withinMs']);
    const capacity = options.capacity ?? 1024;
    if (!Number.isInteger(capacity) || capacity < 1) invalid(`dedupe capacity must be a positive integer, got ${String(capacity)}`);
    const spec: NodeSpec = {
      kind: 'dedupe',
      threshold: finite(options.threshold, 'threshold'),
      metric: options.metric ?? 'cosine',
      capacity,
      withinMs: options.withinMs === undefined ? Infinity : nonNegative(options.withinMs, 'withinMs'),
    };
    if (options.parallelism !== undefined && options.parallelism !== 1) invalid('dedupe runs as one instance (parallelism 1)');
    return this.derive(this.owner.graph.add(spec, options.name ?? this.owner.nextName('dedupe'), [this.edge()], 1));
  }

  /** For each record's `vector`, the k most similar vectors of a fixed set: `{ record, hits: [{ id, score }] }`. */
  topK(
    k: number,
    options: OperatorOptions & { vectors: ArrayLike<number>[] | Float32Array | Float64Array; dim?: number; ids?: unknown[]; metric?: VectorMetric },
  ): DataStream<{ record: T; hits: { id: unknown; score: number }[] }> {
    checkOptions('topK', options, [...OPERATOR_OPTIONS, 'vectors', 'dim', 'ids', 'metric']);
    if (!Number.isInteger(k) || k <= 0) invalid(`topK k must be a positive integer, got ${String(k)}`);
    const { vectors, dim } = flattenVectors(options.vectors, options.dim);
    const count = vectors.length / dim;
    const ids = options.ids ?? Array.from({ length: count }, (_, i) => i);
    if (ids.length !== count) invalid(`topK got ${count} vectors but ${ids.length} ids`);
    const spec: NodeSpec = { kind: 'topK', k, metric: options.metric ?? 'cosine', ids, vectors, dim };
    return this.derive(this.owner.graph.add(spec, options.name ?? this.owner.nextName('topK'), [this.edge()], parallelismOf(options)));
  }

  /**
   * Where records end: a callback on the main thread (awaited if it returns a promise), or a
   * SharedRing another pipeline can read with `env.fromRing(ring)` (closed at end of stream).
   */
  sink(target: ((value: T) => unknown) | SharedRing, options?: SinkOptions): void {
    options = checkOptions('sink', options, SINK_OPTIONS);
    const sink =
      typeof target === 'function'
        ? { kind: 'callback' as const, fn: target as (value: unknown) => unknown, vectorViews: options.vectorViews === true, gated: options.gated === true }
        : { kind: 'ring' as const, ring: target };
    this.owner.graph.add({ kind: 'sink', sink }, options.name ?? this.owner.nextName('sink'), [this.edge()], 1);
  }

  /** Ends the stream in a sink connector (e.g. toJetStream); a source connector's acks wait for its flush. */
  to(sink: SinkConnector<T>, options: Omit<SinkOptions, 'gated'> = {}): void {
    options = checkOptions('to', options, SINK_OPTIONS.filter((o) => o !== 'gated'));
    const writer = sinkWriter(this.owner, sink);
    const name = options.name ?? this.owner.nextName(sink.name);
    // A text sink's serialization joins the operators before it on the workers, when they are a
    // forward edge away (same instances, so the same order); from a source it would add a hop.
    if (writer.text && this.node.spec.kind !== 'source' && this.nextPartition.kind === 'forward') {
      const encode = toFnRef(writer.text.encode, name);
      const encoded = this.owner.graph.add({ kind: 'map', fn: encode }, name, [this.edge()], this.node.parallelism);
      const spec = { kind: 'callback' as const, fn: writer.write, text: writer.text.write, vectorViews: options.vectorViews === true };
      this.owner.graph.add({ kind: 'sink', sink: spec }, name, [{ from: encoded, partition: { kind: 'forward' }, port: 0 }], 1);
      return;
    }
    this.sink(writer.write, { ...options, name });
  }

  /**
   * A sink for vector records, called with their parts — `(uid, ts, vector, record)` — on the main
   * thread. Vector records that travel in batches reach it without a record object being built
   * (`record` is then undefined); anything else that holds one (e.g. topK's `{ record, hits }`)
   * comes with the whole value as `record`. The callback runs while the frame is held: with
   * `vectorViews` the vector is a view valid until it returns, else its own copy.
   */
  sinkVectors(fn: (uid: bigint, ts: number, vector: Float32Array | Float64Array, record: unknown) => unknown, options?: SinkOptions): void {
    options = checkOptions('sinkVectors', options, SINK_OPTIONS);
    if (typeof fn !== 'function') throw new InvalidArgumentError('sinkVectors needs a callback (uid, ts, vector, record) => void');
    this.owner.graph.add({ kind: 'sink', sink: { kind: 'vectors', fn, vectorViews: options.vectorViews === true, gated: options.gated === true } }, options.name ?? this.owner.nextName('sink'), [this.edge()], 1);
  }

  /** Logs every record on the main thread. */
  print(prefix = ''): void {
    this.sink((value) => console.log(prefix, value), { name: this.owner.nextName('print') });
  }

  protected unary<R>(kind: 'map' | 'filter' | 'flatMap', fn: unknown, options: OperatorOptions | undefined): DataStream<R> {
    options = checkOptions(kind, options, OPERATOR_OPTIONS);
    const name = options.name ?? this.owner.nextName(kind);
    const node = this.owner.graph.add({ kind, fn: toFnRef(fn, name) }, name, [this.edge()], parallelismOf(options));
    return this.derive(node);
  }

  protected edge(port = 0): Edge {
    return { from: this.node, partition: this.nextPartition, port };
  }

  protected derive<R>(node: GraphNode): DataStream<R> {
    return new DataStream<R>(this.owner, node);
  }
}

/** A stream after keyBy: the next operator's instances each own a share of the keys. */
export class KeyedStream<T, K> extends DataStream<T> {
  constructor(owner: GraphOwner, node: GraphNode, partition: Partition, readonly keyRef: FnRef) {
    super(owner, node, partition);
  }

  /** Rolling reduce per key: emits the running value after each record. */
  reduce(fn: Fn<[T, T], T>, options?: OperatorOptions): DataStream<T> {
    options = checkOptions('reduce', options, OPERATOR_OPTIONS);
    const name = options.name ?? this.owner.nextName('reduce');
    const node = this.owner.graph.add({ kind: 'reduce', fn: toFnRef(fn, name), key: this.keyRef }, name, [this.edge()], parallelismOf(options));
    return this.derive(node);
  }

  override window(spec: WindowSpec): WindowedStream<T, K> {
    return new WindowedStream<T, K>(this.owner, this, validateWindow(spec), this.keyRef, this.nextPartition);
  }
}

/** A windowed stream; `reduce` or `aggregate` turns each window into one result. */
export class WindowedStream<T, K> {
  constructor(
    private readonly owner: GraphOwner,
    private readonly input: DataStream<T>,
    private readonly spec: WindowSpec,
    private readonly keyRef: FnRef | null,
    private readonly partition: Partition,
  ) {}

  reduce(fn: Fn<[T, T], T>, options?: OperatorOptions): DataStream<WindowResult<T, K>> {
    options = checkOptions('window reduce', options, OPERATOR_OPTIONS);
    const name = options.name ?? this.owner.nextName('windowReduce');
    return this.add({ kind: 'window', window: this.spec, key: this.keyRef, reduce: toFnRef(fn, name) }, name, options);
  }

  aggregate<A, R = A>(agg: Aggregator<T, A, R>, options?: OperatorOptions): DataStream<WindowResult<R, K>> {
    options = checkOptions('window aggregate', options, OPERATOR_OPTIONS);
    checkOptions('window aggregate: the aggregator', agg, ['createAccumulator', 'add', 'getResult', 'merge']);
    const name = options.name ?? this.owner.nextName('windowAggregate');
    const fns: AggregateFns = {
      createAccumulator: toFnRef(agg.createAccumulator, `${name}.createAccumulator`),
      add: toFnRef(agg.add, `${name}.add`),
      getResult: agg.getResult === undefined ? undefined : toFnRef(agg.getResult, `${name}.getResult`),
      merge: agg.merge === undefined ? undefined : toFnRef(agg.merge, `${name}.merge`),
    };
    return this.add({ kind: 'window', window: this.spec, key: this.keyRef, aggregate: fns }, name, options);
  }

  private add<R>(spec: NodeSpec, name: string, options: OperatorOptions): DataStream<R> {
    // An unkeyed window sees every record, so it runs as one instance.
    const parallelism = this.keyRef === null ? 1 : parallelismOf(options);
    if (this.keyRef === null && options.parallelism !== undefined && options.parallelism !== 1) {
      invalid(`'${name}' is a window over an unkeyed stream and runs as one instance; keyBy first to run it in parallel`);
    }
    const node = this.owner.graph.add(spec, name, [{ from: this.input.node, partition: this.partition, port: 0 }], parallelism);
    return new DataStream<R>(this.owner, node);
  }
}

function validateWindow(spec: WindowSpec): WindowSpec {
  if (typeof spec !== 'object' || spec === null) invalid('window() needs a spec such as { tumbling: 1000 }');
  checkOptions('window', spec, WINDOW_OPTIONS);
  const kinds = (['count', 'tumbling', 'sliding', 'session'] as const).filter((k) => spec[k] !== undefined);
  if (kinds.length !== 1) invalid(`a window spec names exactly one of count, tumbling, sliding, session; got ${kinds.join(', ') || 'none'}`);
  const size = spec[kinds[0]!]!;
  // Event time travels in whole ms (see checkTimestamp), so time windows have whole-ms bounds.
  if (!(Number.isInteger(size) && size > 0)) {
    invalid(`window ${kinds[0]} must be a positive whole number${kinds[0] === 'count' ? '' : ' of ms'}, got ${size}`);
  }
  if (kinds[0] === 'sliding' && !(spec.slide! > 0)) invalid('a sliding window needs slide > 0 (ms)');
  if (spec.slide !== undefined && !(Number.isInteger(spec.slide) && spec.slide > 0)) invalid(`window slide must be a positive whole number, got ${spec.slide}`);
  if (spec.on !== undefined && spec.on !== 'eventTime' && spec.on !== 'processingTime') {
    invalid(`window 'on' must be 'eventTime' or 'processingTime', got ${String(spec.on)}`);
  }
  if (spec.allowedLatenessMs !== undefined) nonNegative(spec.allowedLatenessMs, 'allowedLatenessMs');
  return { ...spec };
}

function flattenVectors(vectors: ArrayLike<number>[] | Float32Array | Float64Array, dim?: number): { vectors: Float32Array | Float64Array; dim: number } {
  if (vectors instanceof Float32Array || vectors instanceof Float64Array) {
    if (!(Number.isInteger(dim) && dim! > 0 && vectors.length % dim! === 0)) {
      invalid('topK with a flat vector array needs dim, a positive integer that divides its length');
    }
    return { vectors, dim: dim! };
  }
  if (!Array.isArray(vectors) || vectors.length === 0) invalid('topK needs a non-empty set of vectors');
  const d = vectors[0]!.length;
  const flat = new Float64Array(vectors.length * d);
  vectors.forEach((v, i) => {
    if (v.length !== d) invalid(`topK vectors must all have dimension ${d}; vector ${i} has ${v.length}`);
    flat.set(Array.from(v), i * d);
  });
  return { vectors: flat, dim: d };
}

export function parallelismOf(options: OperatorOptions): number | undefined {
  const p = options.parallelism;
  if (p !== undefined && !(Number.isInteger(p) && p >= 1)) invalid(`parallelism must be a positive integer, got ${String(p)}`);
  return p;
}

function nonNegative(value: number, name: string): number {
  if (!(typeof value === 'number' && value >= 0 && Number.isFinite(value))) invalid(`${name} must be a non-negative number, got ${String(value)}`);
  return value;
}

function finite(value: number, name: string): number {
  if (!(typeof value === 'number' && Number.isFinite(value))) invalid(`${name} must be a finite number, got ${String(value)}`);
  return value;
}

function invalid(message: string): never {
  throw new InvalidArgumentError(message);
}
