import type { PartitionChanges } from './store.js';

/** Entries a checkpoint writes: every put and delete of every table. */
function entriesOf(changes: PartitionChanges): number {
  let n = 0;
  for (const t of changes.tables) for (const g of t.groups) n += g.putKeys.length + g.deleteKeys.length;
  return n;
}

/**
 * What a partition's open segment holds (a snapshot, then deltas), and the rule both stores
 * compact by: a new segment with a full snapshot once the segment's entries exceed the live ones
 * by `ratio` times (entries a later delta overwrote or deleted are dead weight that recovery
 * reads) and its deltas exceed `minBytes`. Measured by dead entries rather than by delta bytes
 * against the snapshot, a table that mostly grows (new keys, new windows) is not rewritten
 * whole every few checkpoints: in the 1 M-order bench job the old rule made the final checkpoint
 * a full snapshot (~0.6 s of encoding on each keyed thread).
 */
export class SegmentFill {
  private entries: number;
  private deltaBytes = 0;

  constructor(snapshot: PartitionChanges) {
    this.entries = entriesOf(snapshot);
  }

  addDelta(changes: PartitionChanges, bytes: number): void {
    this.entries += entriesOf(changes);
    this.deltaBytes += bytes;
  }

  compactionDue(liveEntries: number, ratio: number, minBytes: number): boolean {
    return this.deltaBytes > minBytes && this.entries > (1 + ratio) * liveEntries;
  }
}
