import { InvalidArgumentError } from '../../errors.js';
import type { GraphNode, Partition, StreamGraph } from './graph.js';

/**
 * A vertex of the physical plan. A 'worker' vertex is a chain of operators that need no shuffle
 * between them (Flink's operator chaining): each of its `parallelism` instances runs the whole
 * chain in one loop on a pool thread, reading its own input ring. Sources and sinks run on the
 * main thread, one instance each.
 */
export interface Vertex {
  readonly id: number;
  readonly kind: 'source' | 'worker' | 'sink';
  readonly nodes: GraphNode[];
  readonly parallelism: number;
  readonly inputs: VertexEdge[];
  readonly outputs: VertexEdge[];
}

export interface VertexEdge {
  readonly from: Vertex;
  readonly to: Vertex;
  /** Resolved: 'forward' here means instance i feeds instance i (equal parallelism). */
  readonly partition: Partition;
  /** Input port of a two-input operator (join sides). */
  readonly port: number;
  /** The first producer number this edge's instances take among `to`'s producers. */
  producerBase: number;
}

export interface Plan {
  readonly vertices: Vertex[];
}

/** Turns the logical graph into vertices: chains operators, resolves partitions, numbers producers. */
export function plan(graph: StreamGraph, defaultParallelism: number, maxParallelism = 128): Plan {
  const vertices: Vertex[] = [];
  const vertexOf = new Map<GraphNode, Vertex>();
  const newVertex = (kind: Vertex['kind'], node: GraphNode, parallelism: number): Vertex => {
    const vertex: Vertex = { id: vertices.length, kind, nodes: [node], parallelism, inputs: [], outputs: [] };
    vertices.push(vertex);
    vertexOf.set(node, vertex);
    return vertex;
  };

  for (const node of graph.nodes) {
    const kind = node.spec.kind;
    if (kind === 'source') {
      newVertex('source', node, 1);
      continue;
    }
    const parallelism = kind === 'sink' ? 1 : (node.parallelism ?? defaultParallelism);
    const upstream = node.inputs.length === 1 ? vertexOf.get(node.inputs[0]!.from)! : undefined;
    if (kind !== 'sink' && upstream && canChain(graph, node, upstream, parallelism)) {
      upstream.nodes.push(node);
      vertexOf.set(node, upstream);
      continue;
    }
    const vertex = newVertex(kind === 'sink' ? 'sink' : 'worker', node, parallelism);
    for (const edge of node.inputs) {
      const from = vertexOf.get(edge.from)!;
      if (from.nodes[from.nodes.length - 1] !== edge.from) {
        throw new InvalidArgumentError(`internal: ${edge.from.name} is not the end of its chain`);
      }
      const link: VertexEdge = { from, to: vertex, partition: resolvePartition(edge.partition, from, vertex), port: edge.port, producerBase: 0 };
      from.outputs.push(link);
      vertex.inputs.push(link);
    }
  }

  for (const vertex of vertices) {
    let base = 0;
    for (const edge of vertex.inputs) {
      edge.producerBase = base;
      base += edge.from.parallelism;
    }
    if (vertex.kind !== 'source' && vertex.inputs.length === 0) {
      throw new InvalidArgumentError(`internal: ${vertex.nodes[0]!.name} has no input`);
    }
  }
  for (const v of vertices) {
    if (v.kind === 'worker' && v.parallelism > maxParallelism && v.inputs.some((e) => e.partition.kind === 'hash')) {
      throw new InvalidArgumentError(
        `'${v.nodes.map((n) => n.name).join('→')}' is keyed with parallelism ${v.parallelism}, more than maxParallelism (${maxParallelism}, the number of key groups): lower its parallelism or raise maxParallelism`,
      );
    }
  }
  const dangling = vertices.filter((v) => v.kind !== 'sink' && v.outputs.length === 0);
  if (dangling.length > 0) {
    throw new InvalidArgumentError(
      `every stream must end in a sink; ${dangling.map((v) => `'${v.nodes[v.nodes.length - 1]!.name}'`).join(', ')} ` +
        `${dangling.length > 1 ? 'have' : 'has'} none (add .sink(fn) or .print())`,
    );
  }
  return { vertices };
}

function canChain(graph: StreamGraph, node: GraphNode, upstream: Vertex, parallelism: number): boolean {
  const edge = node.inputs[0]!;
  return (
    upstream.kind === 'worker' &&
    edge.partition.kind === 'forward' &&
    upstream.parallelism === parallelism &&
    upstream.nodes[upstream.nodes.length - 1] === edge.from &&
    graph.consumersOf(edge.from).length === 1
  );
}

function resolvePartition(partition: Partition, from: Vertex, to: Vertex): Partition {
  if (partition.kind !== 'forward') return partition;
  return from.kind === 'worker' && from.parallelism === to.parallelism ? partition : { kind: 'roundRobin' };
}

/** Producers that feed each instance of `vertex` (the count of end-of-stream marks it waits for). */
export function producerCount(vertex: Vertex): number {
  return vertex.inputs.reduce((sum, edge) => sum + edge.from.parallelism, 0);
}

/** A vertex's name: its chained operators' names joined by →. */
export function vertexName(vertex: Vertex): string {
  return vertex.nodes.map((n) => n.name).join('→');
}

/** The plan as plain data (for the live page and tools): vertices and the edges between them. */
export interface PlanGraph {
  vertices: { id: number; kind: Vertex['kind']; name: string; parallelism: number }[];
  edges: { from: number; to: number; partition: string }[];
}

export function planGraph(p: Plan): PlanGraph {
  return {
    vertices: p.vertices.map((v) => ({ id: v.id, kind: v.kind, name: vertexName(v), parallelism: v.parallelism })),
    edges: p.vertices.flatMap((v) => v.inputs.map((e) => ({ from: e.from.id, to: v.id, partition: e.partition.kind }))),
  };
}

/** Human-readable plan, one line per vertex: what `env.explain()` prints. */
export function describePlan(p: Plan): string {
  return p.vertices
    .map((v) => {
      const chain = v.nodes.map((n) => n.name).join(' → ');
      const inputs = v.inputs.map((e) => `${e.partition.kind} from #${e.from.id}${e.port ? ` (port ${e.port})` : ''}`).join(', ');
      return `#${v.id} ${v.kind}${v.kind === 'worker' ? ` ×${v.parallelism}` : ''}: ${chain}${inputs ? `  ⟵ ${inputs}` : ''}`;
    })
    .join('\n');
}
