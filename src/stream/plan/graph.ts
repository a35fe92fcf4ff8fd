import type { SharedRing } from '../../ring/index.js';
import type { FnRef } from './functions.js';
import type { FeedArena } from '../batches/feed-arena.js';

/** How records of an edge are spread over the instances of the operator downstream. */
export type Partition =
  | { kind: 'forward' }
  | { kind: 'roundRobin' }
  | { kind: 'broadcast' }
  | { kind: 'hash'; key: FnRef };

export interface WindowSpec {
  /** Count windows: size in records (tumbling), with `slide` for sliding. */
  count?: number;
  /** Tumbling time window size, ms. */
  tumbling?: number;
  /** Sliding time window size, ms (with `slide`). */
  sliding?: number;
  slide?: number;
  /** Session window inactivity gap, ms. */
  session?: number;
  on?: 'eventTime' | 'processingTime';
  allowedLatenessMs?: number;
}

export interface AggregateFns {
  createAccumulator: FnRef;
  add: FnRef;
  getResult?: FnRef;
  merge?: FnRef;
}

export type SourceSpec =
  | { kind: 'iterable'; iterable: Iterable<unknown> }
  | { kind: 'asyncIterable'; iterable: AsyncIterable<unknown> }
  | { kind: 'function'; fn: () => unknown }
  | { kind: 'ring'; ring: SharedRing }
  | { kind: 'feed'; batches: AsyncIterable<unknown[]>; arena?: FeedArena };

export type SinkSpec =
  | {
      kind: 'callback';
      fn: (value: unknown) => unknown;
      vectorViews?: boolean;
      gated?: boolean;
      /** The records are texts (a sink connector's encodeText ran upstream): batches of them go here as UTF-8, instead of each to `fn`. */
      text?: (utf8: Uint8Array, records: number) => unknown;
    }
  | { kind: 'vectors'; fn: (uid: bigint, ts: number, vector: Float32Array | Float64Array, record: unknown) => unknown; vectorViews?: boolean; gated?: boolean }
  | { kind: 'ring'; ring: SharedRing };

export type VectorMetric = 'l2' | 'cosine' | 'dot';

/** What one node of the logical graph does. Functions are already FnRefs (checked at plan time). */
export type NodeSpec =
  | { kind: 'source'; source: SourceSpec; timestamp?: FnRef; outOfOrdernessMs: number }
  | { kind: 'map' | 'filter' | 'flatMap'; fn: FnRef }
  | { kind: 'reduce'; fn: FnRef; key: FnRef }
  | { kind: 'window'; window: WindowSpec; key: FnRef | null; reduce?: FnRef; aggregate?: AggregateFns }
  | { kind: 'join'; leftKey: FnRef; rightKey: FnRef; withinMs: number; select?: FnRef }
  | { kind: 'similarityJoin'; threshold: number; metric: 'l2' | 'cosine'; withinMs: number; select?: FnRef }
  | { kind: 'dedupe'; threshold: number; metric: 'l2' | 'cosine'; capacity: number; withinMs: number }
  | { kind: 'topK'; k: number; metric: VectorMetric; ids: unknown[]; vectors: Float32Array | Float64Array; dim: number }
  | { kind: 'sink'; sink: SinkSpec };

export interface Edge {
  from: GraphNode;
  partition: Partition;
  /** Which input of a two-input operator (join): 0 left, 1 right. */
  port: number;
}

export interface GraphNode {
  readonly id: number;
  readonly name: string;
  readonly spec: NodeSpec;
  readonly inputs: Edge[];
  /** Set by the user, or undefined for the environment's default. */
  readonly parallelism?: number;
}

/** The logical graph the DataStream API builds: nodes in creation order (a topological order). */
export class StreamGraph {
  readonly nodes: GraphNode[] = [];

  add(spec: NodeSpec, name: string, inputs: Edge[], parallelism?: number): GraphNode {
    const node: GraphNode = { id: this.nodes.length, name, spec, inputs, parallelism };
    this.nodes.push(node);
    return node;
  }

  consumersOf(node: GraphNode): GraphNode[] {
    return this.nodes.filter((n) => n.inputs.some((e) => e.from === node));
  }
}
