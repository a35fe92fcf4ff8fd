// Test-side helpers for the state tests: temporary state folders and a checkpoint across partitions.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { StatePartition, TableDeclaration, storedDeclarations, type StateStore, type PartitionWriter, type AppStateSpec } from '../../src/state/index.js';

export function tempStateDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'ringflow-state-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function appSpec(appId: string, declarations: readonly TableDeclaration<any>[], maxParallelism = 128): AppStateSpec {
  return { appId, maxParallelism, tables: storedDeclarations(declarations) };
}

/** The instances of one keyed stage, each with its own writer. */
export class Stage {
  readonly partitions: StatePartition[];
  private readonly writers: PartitionWriter[];

  constructor(
    readonly store: StateStore,
    declarations: readonly TableDeclaration<any>[],
    parallelism: number,
    maxParallelism = 128,
  ) {
    this.partitions = Array.from({ length: parallelism }, (_, index) => new StatePartition({ declarations, index, parallelism, maxParallelism, name: `keyed.${index}` }));
    this.writers = this.partitions.map((p) => store.writer(p.name));
  }

  /** The partition owning a key. */
  owner(key: unknown): StatePartition {
    const owners = this.partitions.filter((p) => p.ownsKey(key));
    if (owners.length !== 1) throw new Error(`key ${String(key)} has ${owners.length} owners`);
    return owners[0]!;
  }

  async restore(checkpoint: Parameters<StatePartition['restore']>[1]): Promise<void> {
    await Promise.all(this.partitions.map((p) => p.restore(this.store, checkpoint)));
  }

  /** Every partition writes checkpoint `id` (durably), uncommitted; waits for all, then fails with the first failure. */
  async write(id: number) {
    const settled = await Promise.allSettled(this.partitions.map((p, i) => p.checkpoint(id, this.writers[i]!)));
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return settled.map((s) => (s as PromiseFulfilledResult<Awaited<ReturnType<StatePartition['checkpoint']>>>).value);
  }

  async checkpoint(id: number, sources: Record<string, unknown> = {}) {
    const partitions = await this.write(id);
    return this.store.commit({ id, partitions, sources });
  }
}

/** The tables the store tests use: a plain total, a plain object table, a windowed count. */
export const declarations = () => [
  new TableDeclaration<number>('totals', { default: () => 0 }),
  new TableDeclaration<{ n: number; tags: string[] }>('profiles'),
  new TableDeclaration<number>('per-10', { default: () => 0 }).tumbling(10, { expiresMs: 30 }),
];

/** Every entry of every table of a stage, sorted: what "the state" is, to compare. */
export function dump(partitions: readonly StatePartition[]) {
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
export function applyStep(stage: Stage, i: number, keys = 200) {
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

