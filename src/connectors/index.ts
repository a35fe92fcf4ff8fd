// ringflow/connectors: where pipelines meet files and the world beyond one box — local files and
// NATS JetStream sources and sinks, used with `env.from(source)` and `stream.to(sink)`.
export { fromFile, FileSource } from './file-source.js';
export type { FileSourceOptions, FileSourceFormat } from './file-source.js';
export { toFile, FileSink } from './file-sink.js';
export type { FileSinkOptions, FileSinkFormat, FileSinkState } from './file-sink.js';
export { fromJetStream, JetStreamSource, DEAD_LETTER_HEADERS } from './jetstream-source.js';
export type { JetStreamSourceOptions } from './jetstream-source.js';
export { toJetStream, JetStreamSink } from './jetstream-sink.js';
export type { JetStreamSinkOptions } from './jetstream-sink.js';
export { jetStreamStateStore, JetStreamStateStore, STATE_HEADERS } from './jetstream-state-store.js';
export type { JetStreamStateStoreOptions } from './jetstream-state-store.js';
export { DecodeError, PublishError, UnknownStreamError, UnknownSubjectError, JetStreamUnavailableError, StateCommitConflictError } from './errors.js';
export { FileNotFoundError, FileReadError, FileDecodeError, FileWriteError, FileCommitError } from './errors.js';
export { NatsConnectionError } from '../nats/index.js';
export type { MessageFormat } from './codec.js';
export type { SourceConnector, SinkConnector } from '../stream/index.js';
