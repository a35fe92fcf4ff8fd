// ringflow: stream processing and local service calls on worker threads over shared-memory rings.
// Each layer is also importable on its own: ringflow/sync, /ring, /codec, /pool, /stream, /service, /flow.
export { RingflowError, TimeoutError, BlockingOnMainThreadError, InvalidArgumentError, UnknownOptionError, AbortError, checkOptions, checkOptionKeys } from './errors.js';
export { SharedRing, FrameTooLargeError, InvalidCapacityError, InvalidRingError, RingClosedError, CorruptFrameError, ClaimRevokedError, InvalidPayloadError, RingRangeError } from './ring/index.js';
export { StreamEnvironment, DataStream, KeyedStream, WindowedStream, STOP, op, JobFailedError, OperatorFunctionError } from './stream/index.js';
export type { VectorRecord, OperatorContext, JobResult, OperatorFailure, SideOutput } from './stream/index.js';
export { SageFlowService, SageFlowProducer } from './flow/index.js';
// Bundled apps (esbuild, Electron): where the worker entry files are (README, "Browsers and Electron").
export { setWorkerDirectory, workerDirectory, WORKER_DIR_ENV } from './pool/index.js';
export type { SageFlowServiceOptions, SageFlowHandle, VectorSink } from './flow/index.js';
