import { describe, expect, it } from 'vitest';
import { SegmentFill, type PartitionChanges } from '../src/state/index.js';

const MIN_BYTES = 1000;

/** A checkpoint's changes with `puts` puts and `deletes` deletes in one key group. */
function changes(puts: number, deletes = 0, full = false): PartitionChanges {
  const keys = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}${i}`);
  return {
    checkpointId: 1,
    partition: 'p.0',
    keyGroups: { start: 0, end: 128 },
    full,
    tables: [{ table: 't', groups: [{ keyGroup: 0, putKeys: keys(puts, 'k'), putValues: new Array(puts).fill(1), deleteKeys: keys(deletes, 'd') }] }],
  } as unknown as PartitionChanges;
}

describe('SegmentFill: when a segment is compacted into a new snapshot', () => {
  it('keeps appending deltas while the table grows (new keys are no dead weight)', () => {
    const fill = new SegmentFill(changes(1000, 0, true));
    let live = 1000;
    for (let i = 0; i < 20; i++) {
      fill.addDelta(changes(500), 10_000);
      live += 500;
      expect(fill.compactionDue(live, 1, MIN_BYTES)).toBe(false);
    }
  }, 10_000);

  it('compacts once overwritten or deleted entries outnumber the live ones by the ratio', () => {
    const fill = new SegmentFill(changes(1000, 0, true));
    // The same 1000 keys rewritten: after one delta 2000 entries for 1000 live, not yet more than 2×.
    fill.addDelta(changes(1000), 10_000);
    expect(fill.compactionDue(1000, 1, MIN_BYTES)).toBe(false);
    fill.addDelta(changes(1), 10);
    expect(fill.compactionDue(1000, 1, MIN_BYTES)).toBe(true);
    // Deletes count as written entries too, and shrink what is live.
    const shrinking = new SegmentFill(changes(1000, 0, true));
    shrinking.addDelta(changes(0, 600), 5_000);
    expect(shrinking.compactionDue(400, 1, MIN_BYTES)).toBe(true);
  }, 10_000);

  it('never compacts before the deltas pass the byte floor', () => {
    const fill = new SegmentFill(changes(10, 0, true));
    fill.addDelta(changes(100), MIN_BYTES);
    expect(fill.compactionDue(10, 1, MIN_BYTES)).toBe(false);
    fill.addDelta(changes(1), 1);
    expect(fill.compactionDue(10, 1, MIN_BYTES)).toBe(true);
  }, 10_000);
});
