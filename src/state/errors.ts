import { RingflowError } from '../errors.js';

// Errors of keyed state and its store. Each has a stable `code`; match on it, not on the message.

/** A write to a key whose key group another instance owns (tables are co-partitioned with keyBy). */
export class TableKeyOwnershipError extends RingflowError {
  constructor(
    readonly table: string,
    readonly key: string,
    readonly keyGroup: number,
    readonly owned: { readonly start: number; readonly end: number },
  ) {
    super(
      'ERR_TABLE_KEY_OWNERSHIP',
      `table '${table}': key ${JSON.stringify(key)} is in key group ${keyGroup}, which this instance does not own ` +
        `(it owns key groups ${owned.start}..${owned.end - 1}); write a table only under the keyBy that routes its keys`,
    );
  }
}

/** `table(name)` named a table that was never declared. */
export class UnknownTableError extends RingflowError {
  constructor(name: string, known: readonly string[]) {
    super('ERR_UNKNOWN_TABLE', `no table '${name}' is declared; declared: ${known.length ? known.map((n) => `'${n}'`).join(', ') : 'none'}`);
  }
}

/** A table partition's keys outgrew what its arena can address (2 GiB of key bytes, 2^30 entries). */
export class TableCapacityError extends RingflowError {
  constructor(what: string) {
    super('ERR_TABLE_CAPACITY', `a table partition is full: ${what}; spread the keys over more instances (a higher parallelism of the keyed stage)`);
  }
}

/** An onWindowClose handler threw; the window was closed all the same. */
export class WindowCloseHandlerError extends RingflowError {
  constructor(table: string, cause: unknown) {
    super('ERR_WINDOW_CLOSE_HANDLER', `table '${table}': an onWindowClose handler threw: ${String((cause as Error)?.message ?? cause)}`, { cause });
  }
}

/** Stored state failed a check: a bad CRC, a frame that runs past its extent, a malformed manifest. */
export class StateCorruptionError extends RingflowError {
  constructor(
    readonly file: string,
    readonly offset: number,
    detail: string,
  ) {
    super('ERR_STATE_CORRUPT', `state file ${file} is corrupt at byte offset ${offset}: ${detail}; nothing was skipped — restore the file or remove the state folder to start empty`);
  }
}

/** The state folder was written by another application (or is an application's folder, not a stateDir). */
export class StateAppMismatchError extends RingflowError {
  constructor(message: string) {
    super('ERR_STATE_APP_MISMATCH', message);
  }
}

/** The state folder was written by a pipeline with other table declarations or another maxParallelism. */
export class StateDeclarationMismatchError extends RingflowError {
  constructor(message: string) {
    super('ERR_STATE_DECLARATIONS_CHANGED', message);
  }
}

/** The disk (or quota) is full: the checkpoint was not committed; the last committed one is intact. */
export class StateDiskFullError extends RingflowError {
  constructor(file: string, cause: unknown) {
    super('ERR_STATE_DISK_FULL', `no space left writing ${file}: the checkpoint was not committed; the last committed checkpoint is intact`, { cause });
  }
}

/** Any other I/O failure of the state store (permissions, a vanished folder, ...). */
export class StateIOError extends RingflowError {
  constructor(what: string, cause: unknown) {
    super('ERR_STATE_IO', `${what}: ${String((cause as Error)?.message ?? cause)}`, { cause });
  }
}

/** A windowed table could not tell the time of a write or read (no record, or relativeTo gave no finite number). */
export class WindowTimestampError extends RingflowError {
  constructor(table: string, detail: string) {
    super('ERR_WINDOW_TIMESTAMP', `windowed table '${table}': ${detail}`);
  }
}

/** A table value the state codec cannot carry (a function, a class instance's methods, a symbol, ...). */
export class StateValueError extends RingflowError {
  constructor(
    readonly table: string,
    readonly key: string,
    cause: unknown,
  ) {
    super(
      'ERR_STATE_VALUE',
      `table '${table}': the value of key ${JSON.stringify(key)} cannot be stored (${String((cause as Error)?.message ?? cause)}); ` +
        'table values are what structured clone carries (no functions or symbols)',
      { cause },
    );
  }
}
