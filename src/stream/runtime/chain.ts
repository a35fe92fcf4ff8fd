import { RingflowError } from '../../errors.js';
import { resolveTaskFunction } from '../../pool/index.js';
import { compileSource, type FnRef } from '../plan/functions.js';
import { OperatorError } from './errors.js';
import type { NodeSpec } from '../plan/graph.js';
import {
  IntervalJoinOperator,
  reducer,
  SimilarityDedup,
  SimilarityJoin,
  TopKOperator,
  windowOperator,
  type Aggregator,
  type Collector,
  type KeyedOperatorCore,
  type OutputTag,
  type WindowSpec as CoreWindowSpec,
} from '../operators/index.js';
import type { OperatorContext } from '../operators/context.js';

/** One operator in a worker's chain; the last link is the stage's output. */
export interface Link {
  process(value: unknown, ts: number, port: number): void;
  onWatermark(watermark: number): void;
  flush(): void;
}

/** Where side outputs (late records, …) go: the job channel to the main thread. */
export type SideSink = (operator: string, tag: string, value: unknown) => void;

export { OperatorError } from './errors.js';

export interface ChainNode {
  name: string;
  spec: NodeSpec;
}

type AnyFn = (...args: unknown[]) => unknown;

/** Makes a FnRef callable in this thread (module exports are imported, cached per worker). */
export async function loadFn(ref: FnRef): Promise<AnyFn> {
  if (ref.kind === 'source') return compileSource(ref);
  return (await resolveTaskFunction(ref.module, ref.export)) as AnyFn;
}

/** Builds the chain back to front so each link knows its successor. */
export async function buildChain(nodes: ChainNode[], context: (name: string) => OperatorContext, tail: Link, side: SideSink): Promise<Link> {
  let next = tail;
  for (let i = nodes.length - 1; i >= 0; i--) {
    next = await buildLink(nodes[i]!, context(nodes[i]!.name), next, side);
  }
  return next;
}

async function buildLink(node: ChainNode, ctx: OperatorContext, next: Link, side: SideSink): Promise<Link> {
  const { name, spec } = node;
  switch (spec.kind) {
    case 'map': {
      const fn = await loadFn(spec.fn);
      return statelessLink(next, (value, ts) => next.process(fn(value, ctx), ts, 0), name);
    }
    case 'filter': {
      const fn = await loadFn(spec.fn);
      return statelessLink(next, (value, ts) => {
        if (fn(value, ctx)) next.process(value, ts, 0);
      }, name);
    }
    case 'flatMap': {
      const fn = await loadFn(spec.fn);
      return statelessLink(next, (value, ts) => {
        for (const item of fn(value, ctx) as Iterable<unknown>) next.process(item, ts, 0);
      }, name);
    }
    case 'reduce': {
      const [fn, key] = await Promise.all([loadFn(spec.fn), loadFn(spec.key)]);
      const state = new Map<unknown, unknown>();
      return statelessLink(next, (value, ts) => {
        const k = key(value);
        const acc = state.has(k) ? fn(state.get(k), value) : value;
        state.set(k, acc);
        next.process(acc, ts, 0);
      }, name, key);
    }
    case 'window': {
      const key = spec.key ? await loadFn(spec.key) : () => null;
      const core = windowOperator(toCoreWindowSpec(spec.window), await windowAggregator(spec)) as KeyedOperatorCore<unknown, unknown, unknown>;
      return keyedLink(name, next, side, (value, ts, out) => core.process(key(value), value, ts, out), core, key);
    }
    case 'join': {
      const [leftKey, rightKey] = await Promise.all([loadFn(spec.leftKey), loadFn(spec.rightKey)]);
      const select = spec.select ? await loadFn(spec.select) : (l: unknown, r: unknown) => [l, r];
      const core = new IntervalJoinOperator<unknown, unknown, unknown>({ lowerBoundMs: -spec.withinMs, upperBoundMs: spec.withinMs });
      const pairs = mapCollector((pair: { left: unknown; right: unknown }) => select(pair.left, pair.right));
      return keyedLink(name, next, side, (value, ts, out, port) => {
        if (port === 0) core.process('left', leftKey(value), value, ts, pairs.bind(out));
        else core.process('right', rightKey(value), value, ts, pairs.bind(out));
      }, core, (value) => value);
    }
    case 'similarityJoin': {
      const select = spec.select ? await loadFn(spec.select) : (l: unknown, r: unknown, s: unknown) => [l, r, s];
      let core: SimilarityJoin<unknown, unknown> | undefined;
      const pairs = mapCollector((pair: { leftId: unknown; rightId: unknown; score: number }) => select(pair.leftId, pair.rightId, pair.score));
      const noop = { onWatermark() {}, flush() {} };
      return keyedLink(name, next, side, (value, ts, out, port) => {
        const vector = vectorOf(value, name);
        core ??= new SimilarityJoin({ dim: vector.length, metric: spec.metric, threshold: spec.threshold, withinMs: spec.withinMs });
        core.process(port === 0 ? 'left' : 'right', { id: value, vector }, ts, pairs.bind(out));
      }, { onWatermark: (w, o) => (core ?? noop).onWatermark(w, o), flush: (o) => (core ?? noop).flush(o) }, undefined);
    }
    case 'dedupe': {
      let core: SimilarityDedup<unknown> | undefined;
      const sideIds = mapCollector((item: { id: unknown }) => item.id);
      const shortId = (record: unknown) => (record as { uid?: unknown }).uid ?? (record as { id?: unknown }).id ?? record;
      const flushNothing = { onWatermark() {}, flush() {} };
      return keyedLink(name, next, (operator, tag, value) => {
        const d = value as { id: unknown; duplicateOf: unknown; score: number };
        side(operator, tag, { record: d.id, duplicateOf: shortId(d.duplicateOf), score: d.score });
      }, (value, ts, out) => {
        const vector = vectorOf(value, name);
        core ??= new SimilarityDedup({ dim: vector.length, metric: spec.metric, threshold: spec.threshold, capacity: spec.capacity, withinMs: Number.isFinite(spec.withinMs) ? spec.withinMs : undefined });
        core.process({ id: value, vector }, ts, sideIds.bind(out));
      }, { onWatermark: () => {}, flush: (o) => (core ?? flushNothing).flush(o) }, undefined);
    }
    case 'topK': {
      const vectors = Array.from({ length: spec.vectors.length / spec.dim }, (_, i) => spec.vectors.subarray(i * spec.dim, (i + 1) * spec.dim));
      const core = new TopKOperator<unknown, unknown>({ k: spec.k, metric: spec.metric, dim: spec.dim, vectors, ids: spec.ids });
      const results = mapCollector((r: { id: unknown; hits: { id: unknown; score: number }[] }) => ({
        record: r.id,
        hits: r.hits.map((h) => ({ id: h.id, score: h.score })),
      }));
      return keyedLink(name, next, side, (value, ts, out) => core.process({ id: value, vector: vectorOf(value, name) }, ts, results.bind(out)), core, undefined);
    }
    default:
      throw new RingflowError('ERR_INTERNAL', `operator kind '${spec.kind}' cannot run in a worker`);
  }
}

function statelessLink(next: Link, process: (value: unknown, ts: number) => void, name: string, key?: AnyFn): Link {
  return {
    process(value, ts) {
      try {
        process(value, ts);
      } catch (error) {
        throw wrap(error, name, value, key);
      }
    },
    onWatermark: (w) => next.onWatermark(w),
    flush: () => next.flush(),
  };
}

type CoreLike = { onWatermark(w: number, out: Collector<unknown>): void; flush(out: Collector<unknown>): void };

/** A link around an operator core: its collector forwards to the next link and sends side outputs home. */
function keyedLink(
  name: string,
  next: Link,
  side: SideSink,
  process: (value: unknown, ts: number, out: Collector<unknown>, port: number) => void,
  core: CoreLike,
  key: AnyFn | undefined,
): Link {
  const out: Collector<unknown> = {
    collect: (value, ts) => next.process(value, ts, 0),
    side: <S>(tag: OutputTag<S>, value: S) => side(name, tag.id, value),
  };
  return {
    process(value, ts, port) {
      try {
        process(value, ts, out, port);
      } catch (error) {
        throw wrap(error, name, value, key);
      }
    },
    onWatermark(w) {
      core.onWatermark(w, out);
      next.onWatermark(w);
    },
    flush() {
      core.flush(out);
      next.flush();
    },
  };
}

/** A collector adapter that maps each collected value, bound to a downstream collector per call. */
function mapCollector<A>(map: (value: A) => unknown) {
  let target: Collector<unknown>;
  const adapter: Collector<A> = {
    collect: (value, ts) => target.collect(map(value), ts),
    side: (tag, value, ts) => target.side(tag, value, ts),
  };
  return { bind: (out: Collector<unknown>) => ((target = out), adapter) };
}

function wrap(error: unknown, operator: string, value: unknown, key?: AnyFn): unknown {
  if (error instanceof OperatorError) return error;
  let k: unknown;
  try {
    k = key?.(value);
  } catch {
    k = undefined;
  }
  return new OperatorError(operator, k, error);
}

function vectorOf(value: unknown, operator: string): Float32Array | Float64Array {
  const vector = (value as { vector?: unknown })?.vector;
  if (!(vector instanceof Float32Array || vector instanceof Float64Array)) {
    throw new TypeError(`operator '${operator}' needs records with a Float32Array or Float64Array 'vector' field`);
  }
  return vector;
}

async function windowAggregator(spec: Extract<NodeSpec, { kind: 'window' }>): Promise<Aggregator<unknown, unknown, unknown>> {
  if (spec.reduce) return reducer((await loadFn(spec.reduce)) as (a: unknown, b: unknown) => unknown) as Aggregator<unknown, unknown, unknown>;
  const fns = spec.aggregate!;
  const [create, add, getResult, merge] = await Promise.all([
    loadFn(fns.createAccumulator),
    loadFn(fns.add),
    fns.getResult ? loadFn(fns.getResult) : undefined,
    fns.merge ? loadFn(fns.merge) : undefined,
  ]);
  return {
    createAccumulator: () => create(),
    add: (acc, value) => add(acc, value),
    getResult: getResult ? (acc) => getResult(acc) : (acc) => acc,
    merge: merge ? (a, b) => merge(a, b) : undefined,
  };
}

function toCoreWindowSpec(w: Extract<NodeSpec, { kind: 'window' }>['window']): CoreWindowSpec {
  const on = w.on;
  const allowedLatenessMs = w.allowedLatenessMs;
  if (w.count !== undefined) return { count: w.count, slide: w.slide };
  if (w.session !== undefined) return { session: w.session, on, allowedLatenessMs };
  if (w.sliding !== undefined) return { sliding: w.sliding, slide: w.slide!, on, allowedLatenessMs };
  return { tumbling: w.tumbling!, on, allowedLatenessMs };
}
