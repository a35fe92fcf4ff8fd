// ringflow/connectors: where pipelines meet the world beyond one box — NATS JetStream sources and
// sinks, used with `env.from(source)` and `stream.to(sink)`.
export { fromJetStream, JetStreamSource, DEAD_LETTER_HEADERS } from './jetstream-source.js';
export type { JetStreamSourceOptions } from './jetstream-source.js';
export { toJetStream, JetStreamSink } from './jetstream-sink.js';
export type { JetStreamSinkOptions } from './jetstream-sink.js';
export { jetStreamStateStore, JetStreamStateStore, STATE_HEADERS } from './jetstream-state-store.js';
export type { JetStreamStateStoreOptions } from './jetstream-state-store.js';
export { DecodeError, PublishError, UnknownStreamError, UnknownSubjectError, JetStreamUnavailableError, StateCommitConflictError } from './errors.js';
export { NatsConnectionError } from '../nats/index.js';
export type { MessageFormat } from './codec.js';
export type { SourceConnector, SinkConnector } from '../stream/index.js';
