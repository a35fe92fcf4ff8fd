import { RingflowError } from '../errors.js';

/** The named JetStream stream does not exist on the server. */
export class UnknownStreamError extends RingflowError {
  constructor(readonly stream: string, options?: ErrorOptions) {
    super('ERR_JETSTREAM_NO_STREAM', `JetStream has no stream named '${stream}'`, options);
  }
}

/** A subject no stream captures (a sink's subject), or one outside the stream's subjects (a source's filter). */
export class UnknownSubjectError extends RingflowError {
  constructor(readonly subject: string, detail: string, options?: ErrorOptions) {
    super('ERR_JETSTREAM_NO_SUBJECT', `subject '${subject}': ${detail}`, options);
  }
}

/** The server answers but has JetStream off (start it with -js). */
export class JetStreamUnavailableError extends RingflowError {
  constructor(servers: string[], options?: ErrorOptions) {
    super('ERR_JETSTREAM_UNAVAILABLE', `the NATS server at ${servers.join(', ')} has JetStream disabled (start nats-server with -js)`, options);
  }
}

/** A message's bytes could not be decoded: it is reported with its subject and sequence, then terminated. */
export class DecodeError extends RingflowError {
  constructor(readonly subject: string, readonly sequence: number, decode: string, cause: unknown) {
    super('ERR_DECODE', `cannot decode message ${sequence} on '${subject}' as ${decode}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

/** A record could not be encoded, or JetStream refused (or never acknowledged) a publish. */
export class PublishError extends RingflowError {
  constructor(readonly subject: string, message: string, options?: ErrorOptions) {
    super('ERR_JETSTREAM_PUBLISH', `publish to '${subject}' failed: ${message}`, options);
  }
}

/**
 * The state's manifest changed since this store read it: another process opened the bucket (or
 * committed) after this one. This process's checkpoint was not committed; it must stop, the
 * other one owns the state now.
 */
export class StateCommitConflictError extends RingflowError {
  constructor(readonly bucket: string, checkpointId: number | undefined, options?: ErrorOptions) {
    super(
      'ERR_STATE_COMMIT_CONFLICT',
      `JetStream bucket '${bucket}': another process opened or committed this state after this one opened it; ` +
        `${checkpointId === undefined ? 'nothing' : `checkpoint ${checkpointId}`} was not committed (only the process that opened the state last may commit)`,
      options,
    );
  }
}

/** The file a source reads does not exist. */
export class FileNotFoundError extends RingflowError {
  constructor(readonly path: string, options?: ErrorOptions) {
    super('ERR_FILE_NOT_FOUND', `no file at '${path}'`, options);
  }
}

/** Reading a source file failed (or the position to resume from is not in it). */
export class FileReadError extends RingflowError {
  constructor(readonly path: string, readonly offset: number, detail: string, options?: ErrorOptions) {
    super('ERR_FILE_READ', `reading '${path}' at byte ${offset}: ${detail}`, options);
  }
}

/** A line of a JSONL file is not JSON: reported with the file, its byte offset and (reading from the start) its line number. */
export class FileDecodeError extends RingflowError {
  constructor(readonly path: string, readonly offset: number, readonly line: number | undefined, cause: unknown) {
    super('ERR_FILE_DECODE', `'${path}' at byte ${offset}${line === undefined ? '' : ` (line ${line})`} is not JSON: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

/** Writing a sink file failed, or a record has no form in its format. */
export class FileWriteError extends RingflowError {
  constructor(readonly path: string, detail: string, options?: ErrorOptions) {
    super('ERR_FILE_WRITE', `writing '${path}': ${detail}`, options);
  }
}

/** A transactional file sink's files do not match the checkpoint it recovers (a file removed or cut short by hand). */
export class FileCommitError extends RingflowError {
  constructor(readonly path: string, detail: string, options?: ErrorOptions) {
    super('ERR_FILE_COMMIT', `'${path}': ${detail}`, options);
  }
}
