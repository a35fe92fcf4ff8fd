// The StateStore contract: cases every store (the file store, the JetStream store) must pass, run
// by each store's test file with its own way of making stores.
import { afterEach, describe, expect, it } from 'vitest';
import { StateAppMismatchError, StateDeclarationMismatchError, TableDeclaration, type StateStore } from '../../src/state/index.js';
import { Stage, appSpec, applyStep, declarations, dump } from './state.js';

export { applyStep, declarations, dump };

/** One place stores of the kind under test keep their state (a stateDir, a bucket). */
export interface StoreLocation {
  /** A store of app `appId` here; `options` are the store's tuning options (compactMinBytes, batchEntries). */
  store(appId: string, options?: { compactMinBytes?: number; compactRatio?: number; batchEntries?: number }): StateStore;
  /** A store for app `appId` that finds what app 'shop' stored here (a copied folder, the same bucket). */
  storeOfAnotherApp(appId: string): Promise<StateStore>;
  /** The checkpoint ids of the segments stored now. */
  segmentCheckpoints(): Promise<number[]>;
  /** Runs between writing and reading again (the JetStream kind restarts its server). */
  between(): Promise<void>;
  remove(): Promise<void>;
}

export interface StoreKind {
  readonly name: string;
  location(): Promise<StoreLocation>;
}

/** The cases. `timeoutMs` bounds each. */
export function stateStoreContract(kind: StoreKind, timeoutMs = 60_000): void {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });
  async function location(): Promise<StoreLocation> {
    const l = await kind.location();
    cleanups.push(() => l.remove());
    return l;
  }
  async function openStage(at: StoreLocation, parallelism: number, options: { compactMinBytes?: number; compactRatio?: number; batchEntries?: number } = {}) {
    const store = at.store('shop', options);
    const opened = await store.open(appSpec('shop', declarations()));
    const stage = new Stage(store, declarations(), parallelism);
    if (opened.checkpoint) await stage.restore(opened.checkpoint);
    return { store, stage, opened };
  }

  describe(`StateStore contract: ${kind.name}`, () => {
    it('round-trips tables, windowed tables and sources through checkpoints (deltas, then compaction)', async () => {
      const at = await location();
      const { store, stage, opened } = await openStage(at, 2, { compactMinBytes: 20_000, compactRatio: 0.25 });
      expect(opened.checkpoint).toBeUndefined();
      const snapshots: Array<ReturnType<typeof dump>> = [];
      for (let id = 1; id <= 12; id++) {
        applyStep(stage, id);
        await stage.checkpoint(id, { orders: { offset: id * 100 } });
        snapshots.push(dump(stage.partitions));
      }
      await store.close();
      const segments = await at.segmentCheckpoints();
      expect(segments.length).toBe(2); // superseded segments were collected
      expect(segments.some((id) => id !== 1)).toBe(true); // and at least one compaction happened

      await at.between();
      const again = await openStage(at, 2);
      expect(again.opened.warnings).toEqual([]);
      expect(again.opened.checkpoint!.id).toBe(12);
      expect(again.opened.checkpoint!.sources).toEqual({ orders: { offset: 1200 } });
      expect(dump(again.stage.partitions)).toEqual(snapshots[11]);
      expect(dump(again.stage.partitions)['per-10'].length).toBeGreaterThan(0);
      // Windows closed before the checkpoint stay closed after it: a window closes at start + size + expires.
      const starts = new Set(dump(again.stage.partitions)['per-10'].map(([cell]) => Number(cell.split('/')[0])));
      expect([...starts].sort((a, b) => a - b)).toEqual([30, 40, 50, 60]);
      expect(again.stage.partitions[0]!.windowed('per-10').time).toBe(60);
      await again.store.close();
    }, timeoutMs);

    it('re-partitions on restore 1 → 2 → 3 instances: every key exactly once, at its owner, values intact', async () => {
      const at = await location();
      let { store, stage } = await openStage(at, 1);
      for (let id = 1; id <= 3; id++) {
        applyStep(stage, id);
        await stage.checkpoint(id);
      }
      const expected = dump(stage.partitions);
      await store.close();
      for (const [parallelism, id] of [
        [2, 4],
        [3, 5],
        [1, 6],
      ] as const) {
        await at.between();
        ({ store, stage } = await openStage(at, parallelism));
        expect(dump(stage.partitions)).toEqual(expected);
        for (const p of stage.partitions) {
          for (const [k] of p.plain('totals').entries()) expect(p.ownsKey(k)).toBe(true);
          for (const c of p.windowed('per-10').windows()) expect(p.ownsKey(c.key)).toBe(true);
        }
        const keys = stage.partitions.flatMap((p) => [...p.plain('totals').keys()]);
        expect(new Set(keys).size).toBe(keys.length);
        // A checkpoint at the new parallelism, then the next restore reads it.
        applyStep(stage, id);
        Object.assign(expected, dump(stage.partitions));
        await stage.checkpoint(id);
        await store.close();
      }
      ({ store, stage } = await openStage(at, 2));
      expect(dump(stage.partitions)).toEqual(expected);
      await store.close();
    }, timeoutMs);

    it('a restore reads only the key groups asked for, from every partition that holds some', async () => {
      const at = await location();
      const { store, stage } = await openStage(at, 3);
      applyStep(stage, 1);
      const committed = await stage.checkpoint(1);
      await store.close();
      await at.between();
      const reader = at.store('shop');
      const opened = await reader.open(appSpec('shop', declarations()));
      const groups: number[] = [];
      const sink = { put: (_t: string, g: number) => void groups.push(g), delete: (_t: string, g: number) => void groups.push(g), time: () => {} };
      // Key groups 40..49 lie in the first partition (0..42) and the second (43..85).
      const stats = await reader.restore(opened.checkpoint!, { start: 40, end: 50 }, sink);
      expect(stats.files).toBe(2);
      expect(groups.length).toBeGreaterThan(0);
      expect(groups.every((g) => g >= 40 && g < 50)).toBe(true);
      expect(committed.partitions.map((p) => p.keyGroups)).toEqual([{ start: 0, end: 43 }, { start: 43, end: 86 }, { start: 86, end: 128 }]);
      await reader.close();
    }, timeoutMs);

    it('whole frames of a checkpoint that never committed are ignored and reported', async () => {
      const at = await location();
      const { store, stage } = await openStage(at, 1);
      applyStep(stage, 1);
      await stage.checkpoint(1);
      const committed = dump(stage.partitions);
      applyStep(stage, 2);
      const [extent2] = await stage.write(2); // durable, but the manifest never names it
      await store.close();
      await at.between();
      const again = await openStage(at, 1);
      const length1 = again.opened.checkpoint!.partitions[0]!.length;
      expect(again.opened.checkpoint!.id).toBe(1);
      expect(again.opened.warnings.map((w) => [w.code, w.offset, w.bytes])).toEqual([['STATE_UNCOMMITTED_DATA', length1, extent2!.length - length1]]);
      expect(dump(again.stage.partitions)).toEqual(committed);
      await again.store.close();
    }, timeoutMs);

    it('a segment no committed checkpoint names is discarded at open, and said so', async () => {
      const at = await location();
      const { store, stage } = await openStage(at, 1);
      applyStep(stage, 1);
      await stage.checkpoint(1);
      const committed = dump(stage.partitions);
      // A partition of a new stage layout writes its first snapshot; the checkpoint never commits.
      const other = new Stage(store, declarations(), 2);
      applyStep(other, 2);
      await other.write(2);
      await store.close();
      expect((await at.segmentCheckpoints()).sort()).toEqual([1, 2, 2]);
      await at.between();
      const again = await openStage(at, 1);
      expect(again.opened.warnings.map((w) => w.code)).toEqual(['STATE_UNCOMMITTED_SEGMENT', 'STATE_UNCOMMITTED_SEGMENT']);
      expect(again.opened.warnings.every((w) => w.bytes > 0)).toBe(true);
      expect(await at.segmentCheckpoints()).toEqual([1]);
      expect(dump(again.stage.partitions)).toEqual(committed);
      await again.store.close();
    }, timeoutMs);

    it('refuses the state of another appId and changed tables, before anything runs', async () => {
      const at = await location();
      const { store, stage } = await openStage(at, 1);
      applyStep(stage, 1);
      await stage.checkpoint(1);
      await store.close();

      const books = await at.storeOfAnotherApp('books');
      const other = await books.open(appSpec('books', declarations())).catch((e: unknown) => e);
      await books.close();
      expect(other).toBeInstanceOf(StateAppMismatchError);
      expect((other as StateAppMismatchError).code).toBe('ERR_STATE_APP_MISMATCH');
      expect((other as Error).message).toMatch(/holds the state of app 'shop', not of 'books'/);

      const changed = [
        new TableDeclaration('totals'),
        new TableDeclaration('profiles'),
        new TableDeclaration('per-10').tumbling(20, { expiresMs: 30 }),
        new TableDeclaration('extra'),
      ];
      const s1 = at.store('shop');
      const error = await s1.open(appSpec('shop', changed)).catch((e: unknown) => e);
      await s1.close();
      expect(error).toBeInstanceOf(StateDeclarationMismatchError);
      expect((error as StateDeclarationMismatchError).code).toBe('ERR_STATE_DECLARATIONS_CHANGED');
      expect((error as Error).message).toMatch(/'per-10' was tumbling size 10 ms.*is now tumbling size 20 ms/);
      expect((error as Error).message).toMatch(/'extra' is new/);
      const s2 = at.store('shop');
      const parallel = await s2.open(appSpec('shop', declarations(), 64)).catch((e: unknown) => e);
      await s2.close();
      expect(parallel).toBeInstanceOf(StateDeclarationMismatchError);
      expect((parallel as Error).message).toMatch(/maxParallelism was 128, is now 64/);
      // Nothing was changed by the refusals.
      const again = await openStage(at, 1);
      expect(again.opened.checkpoint!.id).toBe(1);
      await again.store.close();
    }, timeoutMs);

    it('stores numbers exactly (-0, NaN, ±Infinity), in all-number batches and mixed ones', async () => {
      const at = await location();
      const { store, stage } = await openStage(at, 1);
      const p = stage.partitions[0]!;
      const odd = [-0, Number.NaN, Infinity, -Infinity, 2 ** 53 + 2, 5e-324];
      odd.forEach((v, i) => p.plain('totals').set(`n${i}`, v));
      odd.forEach((v, i) => p.plain('profiles').set(`m${i}`, i % 2 ? v : ({ n: v, tags: [] } as never)));
      await stage.checkpoint(1);
      await store.close();
      await at.between();
      const again = await openStage(at, 1);
      const q = again.stage.partitions[0]!;
      odd.forEach((v, i) => {
        expect(Object.is(q.plain('totals').get(`n${i}`), v)).toBe(true);
        const m = q.plain('profiles').get(`m${i}`) as unknown;
        expect(Object.is(i % 2 ? m : (m as { n: number }).n, v)).toBe(true);
      });
      await again.store.close();
    }, timeoutMs);

    it('validates commits: partitions covering every key group once, of this checkpoint, ids going up', async () => {
      const at = await location();
      const { store, stage } = await openStage(at, 2);
      const extents = await Promise.all(stage.partitions.map((p) => p.checkpoint(1, store.writer(p.name))));
      await expect(store.commit({ id: 1, partitions: extents.slice(0, 1), sources: {} })).rejects.toThrow(/cover key groups 0..63, not all 128/);
      await expect(store.commit({ id: 2, partitions: extents, sources: {} })).rejects.toThrow(/extent is of checkpoint 1, not 2/);
      await store.commit({ id: 1, partitions: extents, sources: {} });
      await expect(store.commit({ id: 1, partitions: extents, sources: {} })).rejects.toThrow(/not after the last committed one/);
      const unopened = at.store('shop');
      await expect(unopened.commit({ id: 2, partitions: extents, sources: {} })).rejects.toThrow(/open\(\) the store first/);
      await unopened.close();
      await store.close();
    }, timeoutMs);

    it('a value the codec cannot carry is ERR_STATE_VALUE naming table and key; the next checkpoint is whole again', async () => {
      const at = await location();
      const { store, stage } = await openStage(at, 1);
      applyStep(stage, 1);
      await stage.checkpoint(1);
      applyStep(stage, 2);
      const p = stage.partitions[0]!;
      p.plain('profiles').set('bad', { n: 1, tags: [], fn: () => 1 } as never);
      const error = await stage.checkpoint(2).catch((e: unknown) => e);
      expect((error as { code?: string }).code).toBe('ERR_STATE_VALUE');
      expect((error as Error).message).toMatch(/table 'profiles': the value of key "bad" cannot be stored/);
      p.plain('profiles').set('bad', { n: 1, tags: [] });
      await stage.checkpoint(3);
      const latest = dump(stage.partitions);
      await store.close();
      await at.between();
      const again = await openStage(at, 1);
      expect(dump(again.stage.partitions)).toEqual(latest); // step 2's changes, taken by the failed checkpoint, are in
      await again.store.close();
    }, timeoutMs);
  });
}
