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
import { applyStep, declarations, dump, stateStoreContract, type StoreLocation } from './helpers/state-contract.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});
function stateDir(): string {
  const t = tempStateDir();
  cleanups.push(t.remove);
  return t.dir;
}

async function openStage(dir: string, parallelism: number, options: Partial<ConstructorParameters<typeof FileStateStore>[0]> = {}) {
  const store = new FileStateStore({ stateDir: dir, appId: 'shop', ...options });
  const opened = await store.open(appSpec('shop', declarations()));
  const stage = new Stage(store, declarations(), parallelism);
  if (opened.checkpoint) await stage.restore(opened.checkpoint);
  return { store, stage, opened };
}

/** The file store's places: a fresh stateDir each. */
function fileLocation(): StoreLocation {
  const t = tempStateDir();
  return {
    store: (appId, options = {}) => new FileStateStore({ stateDir: t.dir, appId, ...options }),
    async storeOfAnotherApp(appId) {
      // The folder of app 'shop' copied to where the other app keeps its state.
      mkdirSync(path.join(t.dir, appId));
      for (const name of readdirSync(path.join(t.dir, 'shop'))) writeFileSync(path.join(t.dir, appId, name), readFileSync(path.join(t.dir, 'shop', name)));
      return new FileStateStore({ stateDir: t.dir, appId });
    },
    segmentCheckpoints: async () =>
      readdirSync(path.join(t.dir, 'shop'))
        .map((n) => /^seg-.*-(\d{10})\.log$/.exec(n))
        .filter((m) => m !== null)
        .map((m) => Number(m![1])),
    between: async () => {},
    remove: async () => t.remove(),
  };
}

stateStoreContract({ name: 'FileStateStore', location: async () => fileLocation() });

describe('FileStateStore', () => {
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

  it('refuses an app folder given as stateDir (the rest of the refusals are in the contract)', async () => {
    const dir = stateDir();
    const { store, stage } = await openStage(dir, 1);
    applyStep(stage, 1);
    await stage.checkpoint(1);
    await store.close();
    const nested = await new FileStateStore({ stateDir: path.join(dir, 'shop'), appId: 'shop' }).open(appSpec('shop', declarations())).catch((e: unknown) => e);
    expect(nested).toBeInstanceOf(StateAppMismatchError);
    expect((nested as Error).message).toMatch(/is the state folder of app 'shop' itself/);
    expect(existsSync(path.join(dir, 'shop', 'shop'))).toBe(false);
  });

  it('validates options up front', () => {
    expect(() => new FileStateStore({ stateDir: '/tmp/x', appId: 'a', compact: 1 } as never)).toThrow(/unknown option 'compact' \(valid: stateDir, appId/);
    expect(() => new FileStateStore({ stateDir: '/tmp/x', appId: 'a/b' })).toThrow(/appId/);
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
