import { InvalidArgumentError } from '../errors.js';
import { declarationDifferences, type StoredTableDeclaration } from './declarations.js';
import { StateAppMismatchError, StateDeclarationMismatchError } from './errors.js';
import { checkCheckpointId } from './segment-codec.js';
import type { AppStateSpec, CheckpointCommit, CommittedCheckpoint } from './store.js';

/** What every store records of the app whose state it holds, and the rules for opening and committing it. */
export interface StoredApp {
  readonly appId: string;
  readonly maxParallelism: number;
  readonly tables: readonly StoredTableDeclaration[];
}

/** Refuses a store written by another app, or by a pipeline with other tables or maxParallelism. `where` names the store. */
export function checkStoredApp(stored: StoredApp, spec: AppStateSpec, where: string, place = 'stateDir'): void {
  if (stored.appId !== spec.appId) {
    throw new StateAppMismatchError(`${where} holds the state of app '${stored.appId}', not of '${spec.appId}'; use another ${place} or appId`);
  }
  const differences = declarationDifferences(stored.tables, spec.tables);
  if (stored.maxParallelism !== spec.maxParallelism) {
    differences.unshift(`maxParallelism was ${stored.maxParallelism}, is now ${spec.maxParallelism} (key groups cannot change over a state's life)`);
  }
  if (differences.length) {
    throw new StateDeclarationMismatchError(
      `${where} was written by a pipeline with other tables: ${differences.join('; ')}. Restore the old declarations, or start from an empty ${place}`,
    );
  }
}

/**
 * Checks a commit against the last committed checkpoint (ids go up; the partitions' key groups
 * cover 0..maxParallelism-1 once, each extent of this checkpoint — or there are none at all, for an
 * app that declares no tables (`tableCount` 0); sources and sinks are JSON) and returns the
 * checkpoint to store.
 */
export function checkpointToCommit(commit: CheckpointCommit, previous: CommittedCheckpoint | null | undefined, maxParallelism: number, tableCount = 1): CommittedCheckpoint {
  checkCheckpointId(commit.id);
  if (previous && commit.id <= previous.id) throw new InvalidArgumentError(`checkpoint ${commit.id} is not after the last committed one (${previous.id})`);
  const partitions = [...commit.partitions].sort((a, b) => a.keyGroups.start - b.keyGroups.start);
  let next = 0;
  for (const p of partitions) {
    if (p.checkpointId !== commit.id) throw new InvalidArgumentError(`partition ${p.partition}'s extent is of checkpoint ${p.checkpointId}, not ${commit.id}`);
    if (p.keyGroups.start !== next) throw new InvalidArgumentError(`checkpoint ${commit.id}: key groups ${next}..${p.keyGroups.start - 1} have no partition, or two partitions overlap at ${p.keyGroups.start}`);
    next = p.keyGroups.end;
  }
  if (next !== maxParallelism && !(partitions.length === 0 && tableCount === 0)) {
    throw new InvalidArgumentError(`checkpoint ${commit.id}: the partitions cover key groups 0..${next - 1}, not all ${maxParallelism}`);
  }
  let sources: Record<string, unknown>;
  try {
    sources = JSON.parse(JSON.stringify(commit.sources ?? {}));
  } catch (e) {
    throw new InvalidArgumentError(`checkpoint ${commit.id}: sources' offsets must be JSON: ${String((e as Error).message)}`);
  }
  let sinks: Record<string, unknown> | undefined;
  try {
    sinks = commit.sinks === undefined ? undefined : JSON.parse(JSON.stringify(commit.sinks));
  } catch (e) {
    throw new InvalidArgumentError(`checkpoint ${commit.id}: sinks' prepared state must be JSON: ${String((e as Error).message)}`);
  }
  return {
    id: commit.id,
    committedAt: new Date().toISOString(),
    partitions: partitions.map((p) => ({ partition: p.partition, file: p.file, length: p.length, keyGroups: { start: p.keyGroups.start, end: p.keyGroups.end }, checkpointId: p.checkpointId })),
    sources,
    ...(sinks === undefined ? {} : { sinks }),
  };
}
