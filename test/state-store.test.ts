import { execFileSync } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import { mkdirSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync, appendFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  FileStateStore,
  StateAppMismatchError,
  StateCorruptionError,
  StateDeclarationMismatchError,
  StateDiskFullError,
  StatePartition,
  TableDeclaration,
  type StateFileSystem,
} from '../src/state/index.js';
import { Stage, appSpec, tempStateDir } from './helpers/state.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});
function stateDir(): string {
  const t = tempStateDir();
  cleanups.push(t.remove);
  return t.dir;
}

const declarations = () => [
  new TableDeclaration<number>('totals', { default: () => 0 }),
  new TableDeclaration<{ n: number; tags: string[] }>('profiles'),
  new TableDeclaration<number>('per-10', { default: () => 0 }).tumbling(10, { expiresMs: 30 }),
];

/** Every entry of every table of a stage, sorted: what "the state" is, to compare. */
function dump(partitions: readonly StatePartition[]) {
  const out: Record<string, Array<[string, unknown]>> = {};
  for (const name of ['totals', 'profiles']) {
    out[name] = partitions.flatMap((p) => [...p.plain(name).entries()]).sort((a, b) => (a[0] < b[0] ? -1 : 1));
  }
  out['per-10'] = partitions
    .flatMap((p) => [...p.windowed('per-10').windows()].map((c) => [`${c.window.start}/${c.key}`, c.value] as [string, unknown]))
    .sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return out;
}

/** Writes step `i` of a deterministic workload into whichever partition owns each key. */
function applyStep(stage: Stage, i: number, keys = 200) {
  for (let j = 0; j < keys; j++) {
    const key = `user-${(i * 37 + j * 11) % 1000}`;
    const p = stage.owner(key);
    p.beginRecord(null, i * 5);
    p.plain<number>('totals').update(key, (n) => n + i + j);
    if (j % 7 === 0) p.plain('profiles').set(key, { n: i, tags: [`t${j}`] });
    if (j % 13 === 0) p.plain('profiles').delete(key);
    p.windowed<number>('per-10').update(key, (n) => n + 1);
    p.endRecord();
  }
}

async function openStage(dir: string, parallelism: number, options: Partial<ConstructorParameters<typeof FileStateStore>[0]> = {}) {
  const store = new FileStateStore({ stateDir: dir, appId: 'shop', ...options });
  const opened = await store.open(appSpec('shop', declarations()));
  const stage = new Stage(store, declarations(), parallelism);
  if (opened.checkpoint) await stage.restore(opened.checkpoint);
  return { store, stage, opened };
}

describe('FileStateStore', () => {
  it('round-trips tables, windowed tables and sources through checkpoints (deltas, then compaction)', async () => {
    const dir = stateDir();
    const { store, stage, opened } = await openStage(dir, 2, { compactMinBytes: 20_000 });
    expect(opened.checkpoint).toBeUndefined();
    const snapshots: Array<ReturnType<typeof dump>> = [];
    for (let id = 1; id <= 12; id++) {
      applyStep(stage, id);
      await stage.checkpoint(id, { orders: { offset: id * 100 } });
      snapshots.push(dump(stage.partitions));
    }
    await store.close();
    const segments = readdirSync(path.join(dir, 'shop')).filter((n) => n.startsWith('seg-'));
    expect(segments.length).toBe(2); // superseded segments were collected
    expect(segments.some((n) => !n.endsWith('0000000001.log'))).toBe(true); // and at least one compaction happened

    const again = await openStage(dir, 2);
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
  });

  it('re-partitions on restore 1 → 2 → 3 instances: every key exactly once, at its owner, values intact', async () => {
    const dir = stateDir();
    let { store, stage } = await openStage(dir, 1);
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
      ({ store, stage } = await openStage(dir, parallelism));
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
    ({ store, stage } = await openStage(dir, 2));
    expect(dump(stage.partitions)).toEqual(expected);
    await store.close();
  });

  it('a torn tail (a write cut short) recovers to the last committed entry and says so', async () => {
    const dir = stateDir();
    const { store, stage } = await openStage(dir, 1, { batchEntries: 16 });
    applyStep(stage, 1);
    await stage.checkpoint(1);
    const committed = dump(stage.partitions);
    const committedLength = store.committed!.partitions[0]!.length;
    // Checkpoint 2's section is being appended when the process dies: only part of it reached the file.
    applyStep(stage, 2);
    const [extent2] = await stage.write(2);
    await store.close();
    const segment = path.join(dir, 'shop', extent2!.file);
    const bytes = readFileSync(segment);
    const starts: number[] = [];
    for (let at = committedLength; at < bytes.length; at += 20 + bytes.readUInt32LE(at)) starts.push(at);
    expect(starts.length).toBeGreaterThan(3);
    const torn = starts[2]!;
    truncateSync(segment, torn + 7);
    const again = await openStage(dir, 1);
    expect(again.opened.checkpoint!.id).toBe(1);
    expect(again.opened.warnings).toHaveLength(1);
    const w = again.opened.warnings[0]!;
    expect(w.code).toBe('STATE_TORN_TAIL');
    expect(w.file).toBe(segment);
    expect(w.offset).toBe(torn);
    expect(w.message).toMatch(/recovered to the last whole entry at offset/);
    expect(dump(again.stage.partitions)).toEqual(committed);
    // The store goes on from there: the next checkpoint commits and recovers.
    applyStep(again.stage, 3);
    await again.stage.checkpoint(2);
    const expected = dump(again.stage.partitions);
    await again.store.close();
    const third = await openStage(dir, 1);
    expect(third.opened.warnings).toEqual([]);
    expect(dump(third.stage.partitions)).toEqual(expected);
    await third.store.close();
  });

  it('whole frames of a checkpoint that never committed are ignored and reported', async () => {
    const dir = stateDir();
    const { store, stage } = await openStage(dir, 1);
    applyStep(stage, 1);
    await stage.checkpoint(1);
    const committed = dump(stage.partitions);
    applyStep(stage, 2);
    const [extent2] = await stage.write(2); // fsync'd, but the manifest never names it
    await store.close();
    const again = await openStage(dir, 1);
    const length1 = again.opened.checkpoint!.partitions[0]!.length;
    expect(again.opened.checkpoint!.id).toBe(1);
    expect(again.opened.warnings.map((w) => [w.code, w.offset, w.bytes])).toEqual([['STATE_UNCOMMITTED_DATA', length1, extent2!.length - length1]]);
    expect(dump(again.stage.partitions)).toEqual(committed);
    await again.store.close();
  });

  it('corruption inside a committed extent is a StateCorruptionError naming the file and the offset', async () => {
    const dir = stateDir();
    const { store, stage } = await openStage(dir, 1, { batchEntries: 16 });
    applyStep(stage, 1);
    await stage.checkpoint(1);
    applyStep(stage, 2);
    await stage.checkpoint(2);
    await store.close();
    const segment = path.join(dir, 'shop', readdirSync(path.join(dir, 'shop')).find((n) => n.startsWith('seg-'))!);
    const bytes = readFileSync(segment);
    // Find a frame boundary in the middle and flip a payload byte of that frame.
    let offset = 0;
    const starts: number[] = [];
    while (offset < bytes.length) {
      starts.push(offset);
      offset += 20 + bytes.readUInt32LE(offset);
    }
    const victim = starts[Math.floor(starts.length / 2)]!;
    bytes[victim + 25]! ^= 0x40;
    writeFileSync(segment, bytes);
    const store2 = new FileStateStore({ stateDir: dir, appId: 'shop' });
    const opened = await store2.open(appSpec('shop', declarations()));
    const p = new StatePartition({ declarations: declarations(), index: 0, parallelism: 1 });
    const error = await p.restore(store2, opened.checkpoint!).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateCorruptionError);
    expect((error as StateCorruptionError).code).toBe('ERR_STATE_CORRUPT');
    expect((error as StateCorruptionError).file).toBe(segment);
    expect((error as StateCorruptionError).offset).toBe(victim);
    expect((error as Error).message).toMatch(/CRC mismatch/);

    // A file shorter than its committed extent is corruption too, found at open.
    truncateSync(segment, victim + 3);
    const error2 = await new FileStateStore({ stateDir: dir, appId: 'shop' }).open(appSpec('shop', declarations())).catch((e: unknown) => e);
    expect(error2).toBeInstanceOf(StateCorruptionError);
    expect((error2 as StateCorruptionError).offset).toBe(victim + 3);

    // And a damaged manifest.
    const manifest = path.join(dir, 'shop', 'MANIFEST');
    const text = readFileSync(manifest, 'utf8');
    writeFileSync(manifest, text.replace('"id":2', '"id":3'));
    const error3 = await new FileStateStore({ stateDir: dir, appId: 'shop' }).open(appSpec('shop', declarations())).catch((e: unknown) => e);
    expect(error3).toBeInstanceOf(StateCorruptionError);
    expect((error3 as StateCorruptionError).file).toBe(manifest);
  });

  it('refuses a state folder of another appId, an app folder given as stateDir, and changed tables, before anything runs', async () => {
    const dir = stateDir();
    const { store, stage } = await openStage(dir, 1);
    applyStep(stage, 1);
    await stage.checkpoint(1);
    await store.close();

    // The folder of app 'shop' copied to where app 'books' keeps its state.
    mkdirSync(path.join(dir, 'books'));
    for (const name of readdirSync(path.join(dir, 'shop'))) writeFileSync(path.join(dir, 'books', name), readFileSync(path.join(dir, 'shop', name)));
    const other = await new FileStateStore({ stateDir: dir, appId: 'books' }).open(appSpec('books', declarations())).catch((e: unknown) => e);
    expect(other).toBeInstanceOf(StateAppMismatchError);
    expect((other as StateAppMismatchError).code).toBe('ERR_STATE_APP_MISMATCH');
    expect((other as Error).message).toMatch(/holds the state of app 'shop', not of 'books'/);

    const nested = await new FileStateStore({ stateDir: path.join(dir, 'shop'), appId: 'shop' }).open(appSpec('shop', declarations())).catch((e: unknown) => e);
    expect(nested).toBeInstanceOf(StateAppMismatchError);
    expect((nested as Error).message).toMatch(/is the state folder of app 'shop' itself/);
    expect(existsSync(path.join(dir, 'shop', 'shop'))).toBe(false);

    const changed = [
      new TableDeclaration('totals'),
      new TableDeclaration('profiles'),
      new TableDeclaration('per-10').tumbling(20, { expiresMs: 30 }),
      new TableDeclaration('extra'),
    ];
    const error = await new FileStateStore({ stateDir: dir, appId: 'shop' }).open(appSpec('shop', changed)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateDeclarationMismatchError);
    expect((error as StateDeclarationMismatchError).code).toBe('ERR_STATE_DECLARATIONS_CHANGED');
    expect((error as Error).message).toMatch(/'per-10' was tumbling size 10 ms.*is now tumbling size 20 ms/);
    expect((error as Error).message).toMatch(/'extra' is new/);
    const parallel = await new FileStateStore({ stateDir: dir, appId: 'shop' }).open(appSpec('shop', declarations(), 64)).catch((e: unknown) => e);
    expect((parallel as Error).message).toMatch(/maxParallelism was 128, is now 64/);
    // Nothing was changed by the refusals.
    const again = await openStage(dir, 1);
    expect(again.opened.checkpoint!.id).toBe(1);
    await again.store.close();
  });

  it('stores numbers exactly (-0, NaN, ±Infinity), in all-number batches and mixed ones', async () => {
    const dir = stateDir();
    const { store, stage } = await openStage(dir, 1);
    const p = stage.partitions[0]!;
    const odd = [-0, Number.NaN, Infinity, -Infinity, 2 ** 53 + 2, 5e-324];
    odd.forEach((v, i) => p.plain('totals').set(`n${i}`, v));
    odd.forEach((v, i) => p.plain('profiles').set(`m${i}`, i % 2 ? v : ({ n: v, tags: [] } as never)));
    await stage.checkpoint(1);
    await store.close();
    const again = await openStage(dir, 1);
    const q = again.stage.partitions[0]!;
    odd.forEach((v, i) => {
      expect(Object.is(q.plain('totals').get(`n${i}`), v)).toBe(true);
      const m = q.plain('profiles').get(`m${i}`) as unknown;
      expect(Object.is(i % 2 ? m : (m as { n: number }).n, v)).toBe(true);
    });
    await again.store.close();
  });

  it('validates options and commits up front', async () => {
    expect(() => new FileStateStore({ stateDir: '/tmp/x', appId: 'a', compact: 1 } as never)).toThrow(/unknown option 'compact'; valid options: stateDir, appId/);
    expect(() => new FileStateStore({ stateDir: '/tmp/x', appId: 'a/b' })).toThrow(/appId/);
    const dir = stateDir();
    const { store, stage } = await openStage(dir, 2);
    const extents = await Promise.all(stage.partitions.map((p) => p.checkpoint(1, store.writer(p.name))));
    await expect(store.commit({ id: 1, partitions: extents.slice(0, 1), sources: {} })).rejects.toThrow(/cover key groups 0..63, not all 128/);
    await expect(store.commit({ id: 2, partitions: extents, sources: {} })).rejects.toThrow(/extent is of checkpoint 1, not 2/);
    await store.commit({ id: 1, partitions: extents, sources: {} });
    await expect(store.commit({ id: 1, partitions: extents, sources: {} })).rejects.toThrow(/not after the last committed one/);
    await store.close();
  });
});

/** A file system whose writes fail with ENOSPC once `full` is set (the seam FileStateStore offers). */
function fullDiskFs(): { fs: StateFileSystem; setFull(v: boolean): void } {
  let full = false;
  const fail = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 });
  const fs: StateFileSystem = {
    ...fsp,
    open: (async (...args: Parameters<typeof fsp.open>) => {
      const handle = await fsp.open(...args);
      return new Proxy(handle, {
        get(target, prop, receiver) {
          if ((prop === 'write' || prop === 'sync') && full) return async () => Promise.reject(fail());
          const value = Reflect.get(target, prop, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    }) as typeof fsp.open,
  };
  return { fs, setFull: (v) => (full = v) };
}

describe('FileStateStore on a full disk', () => {
  it('a failing write or manifest is ERR_STATE_DISK_FULL and the last checkpoint stays intact (injected ENOSPC)', async () => {
    const dir = stateDir();
    const disk = fullDiskFs();
    const { store, stage } = await openStage(dir, 2, { fs: disk.fs });
    applyStep(stage, 1);
    await stage.checkpoint(1, { src: 1 });
    const committed = dump(stage.partitions);
    applyStep(stage, 2);
    disk.setFull(true);
    const error = await stage.checkpoint(2, { src: 2 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateDiskFullError);
    expect((error as StateDiskFullError).code).toBe('ERR_STATE_DISK_FULL');
    expect(((error as Error).cause as NodeJS.ErrnoException).code).toBe('ENOSPC');
    // The data writes succeed but the manifest cannot be written.
    disk.setFull(false);
    applyStep(stage, 3);
    const extents = await stage.write(3);
    disk.setFull(true);
    const error2 = await store.commit({ id: 3, partitions: extents, sources: { src: 3 } }).catch((e: unknown) => e);
    expect(error2).toBeInstanceOf(StateDiskFullError);
    expect(existsSync(path.join(dir, 'shop', 'MANIFEST.tmp'))).toBe(false);

    // Space again: the job that kept running commits a checkpoint holding every change, the failed ones' too.
    disk.setFull(false);
    applyStep(stage, 4);
    await stage.checkpoint(4, { src: 4 });
    const latest = dump(stage.partitions);
    // Full once more; then the process stops. Recovery finds checkpoint 4, whole.
    applyStep(stage, 5);
    disk.setFull(true);
    await expect(stage.checkpoint(5, { src: 5 })).rejects.toBeInstanceOf(StateDiskFullError);
    await store.close();
    disk.setFull(false);
    const again = await openStage(dir, 2);
    expect(again.opened.checkpoint!.id).toBe(4);
    expect(again.opened.checkpoint!.sources).toEqual({ src: 4 });
    expect(dump(again.stage.partitions)).toEqual(latest);
    expect(dump(again.stage.partitions)).not.toEqual(committed);
    await again.store.close();
  });

  it('a value the codec cannot carry is ERR_STATE_VALUE naming table and key; the next checkpoint is whole again', async () => {
    const dir = stateDir();
    const { store, stage } = await openStage(dir, 1);
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
    const again = await openStage(dir, 1);
    expect(dump(again.stage.partitions)).toEqual(latest); // step 2's changes, taken by the failed checkpoint, are in
    await again.store.close();
  });

  it('on a real tmpfs that fills up (skipped where mounting is not allowed)', async (ctx) => {
    const mountPoint = stateDir();
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', mountPoint], { stdio: 'ignore' });
    } catch {
      ctx.skip();
      return;
    }
    try {
      const { store, stage } = await openStage(mountPoint, 1);
      applyStep(stage, 1, 50);
      await stage.checkpoint(1, { src: 1 });
      const committed = dump(stage.partitions);
      // Values big enough to fill the 512 KiB file system.
      const p = stage.partitions[0]!;
      for (let i = 0; i < 400; i++) {
        const key = `big-${i}`;
        if (p.ownsKey(key)) p.plain('profiles').set(key, { n: i, tags: ['x'.repeat(4000)] });
      }
      const error = await stage.checkpoint(2, { src: 2 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StateDiskFullError);
      await store.close();
      const again = await openStage(mountPoint, 1);
      expect(again.opened.checkpoint!.id).toBe(1);
      expect(dump(again.stage.partitions)).toEqual(committed);
      await again.store.close();
    } finally {
      execFileSync('umount', [mountPoint]);
    }
  });
});
