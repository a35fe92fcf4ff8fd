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
