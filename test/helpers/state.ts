// Test-side helpers for the state tests: temporary state folders and a checkpoint across partitions.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { StatePartition, storedDeclarations, type FileStateStore, type PartitionWriter, type TableDeclaration, type AppStateSpec } from '../../src/state/index.js';

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
    readonly store: FileStateStore,
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
