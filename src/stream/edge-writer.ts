import { SharedRing } from '../ring/index.js';
import { loadFn } from './chain.js';
import { FrameKind, frameType, PreparedRecord, writeControl, writeControlAsync } from './frames.js';
import type { Partition } from './graph.js';
import { Router } from './routing.js';

/** One outgoing edge of a producer (a stage instance or a main-thread source), as data. */
export interface EdgeTask {
  rings: SharedArrayBuffer[];
  partition: Partition;
  port: number;
  /** The producer's number at the receiving vertex. */
  producer: number;
}

interface OpenEdge {
  rings: SharedRing[];
  router: Router;
  port: number;
  producer: number;
}

/**
 * Writes a producer's records and control marks to its outgoing edges: each record is encoded
 * once, routed per edge, and copied into the chosen ring(s). Workers use the blocking forms;
 * the main thread uses the async ones, which return a promise only when a ring was full.
 */
export class EdgeWriter {
  private readonly prepared = new PreparedRecord();

  private constructor(private readonly edges: OpenEdge[]) {}

  static async open(tasks: EdgeTask[], instance: number): Promise<EdgeWriter> {
    const edges = await Promise.all(
      tasks.map(async (t): Promise<OpenEdge> => {
        const key = t.partition.kind === 'hash' ? ((await loadFn(t.partition.key)) as (value: unknown) => unknown) : undefined;
        return {
          rings: t.rings.map((buffer) => SharedRing.attach(buffer)),
          router: new Router(t.partition.kind, t.rings.length, instance, key),
          port: t.port,
          producer: t.producer,
        };
      }),
    );
    return new EdgeWriter(edges);
  }

  /** Blocking write (worker threads). */
  write(value: unknown, ts: number): void {
    const record = this.prepared.prepare(value, ts);
    for (const edge of this.edges) {
      const type = frameType(record.kind, edge.port);
      const target = edge.router.route(value);
      if (target >= 0) this.put(edge.rings[target]!, type);
      else for (const ring of edge.rings) this.put(ring, type);
    }
  }

  /** Never blocks; the returned promise (only when a ring was full) must settle before the next write. */
  writeAsync(value: unknown, ts: number): Promise<void> | undefined {
    const record = this.prepared.prepare(value, ts);
    for (let e = 0; e < this.edges.length; e++) {
      const edge = this.edges[e]!;
      const type = frameType(record.kind, edge.port);
      const target = edge.router.route(value);
      const rings = target >= 0 ? [edge.rings[target]!] : edge.rings;
      for (let r = 0; r < rings.length; r++) {
        if (!this.tryPut(rings[r]!, type)) return this.finishAsync(e, rings, r, type, value);
      }
    }
    return undefined;
  }

  /** Sends a control mark to every ring of every edge. */
  control(kind: number, value: number): void {
    for (const edge of this.edges) for (const ring of edge.rings) writeControl(ring, kind, edge.producer, value, edge.port);
  }

  async controlAsync(kind: number, value: number): Promise<void> {
    for (const edge of this.edges) for (const ring of edge.rings) await writeControlAsync(ring, kind, edge.producer, value, edge.port);
  }

  end(): void {
    this.control(FrameKind.End, 0);
  }

  endAsync(): Promise<void> {
    return this.controlAsync(FrameKind.End, 0);
  }

  private put(ring: SharedRing, type: number): void {
    const offset = ring.claim(type, this.prepared.size);
    this.prepared.writeInto(ring.data, offset);
    ring.commit(offset);
  }

  private tryPut(ring: SharedRing, type: number): boolean {
    const offset = ring.tryClaim(type, this.prepared.size);
    if (offset < 0) return false;
    this.prepared.writeInto(ring.data, offset);
    ring.commit(offset);
    return true;
  }

  /** The slow path of writeAsync: wait for room in the full ring, then do the rest of the targets. */
  private async finishAsync(edgeIndex: number, rings: SharedRing[], ringIndex: number, type: number, value: unknown): Promise<void> {
    for (let r = ringIndex; r < rings.length; r++) await this.putAsync(rings[r]!, type);
    for (let e = edgeIndex + 1; e < this.edges.length; e++) {
      const edge = this.edges[e]!;
      const edgeType = frameType(this.prepared.kind, edge.port);
      const target = edge.router.route(value);
      for (const ring of target >= 0 ? [edge.rings[target]!] : edge.rings) await this.putAsync(ring, edgeType);
    }
  }

  private async putAsync(ring: SharedRing, type: number): Promise<void> {
    const offset = await ring.claimAsync(type, this.prepared.size);
    this.prepared.writeInto(ring.data, offset);
    ring.commit(offset);
  }
}
