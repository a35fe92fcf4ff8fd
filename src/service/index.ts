export { ServiceManager } from './manager.js';
export { ServiceClient } from './client.js';
export type { ServiceClientOptions } from './client.js';
export { BaseServiceTask } from './base-task.js';
export type { ServiceStatus } from './base-task.js';
export { LocalServiceTask } from './local-task.js';
export { WorkerServiceTask } from './worker-task.js';
export {
  ServiceError,
  UnknownServiceError,
  UnknownMethodError,
  ServiceUnavailableError,
  ServiceQueueFullError,
  UnserializableValueError,
  UnserializableError,
  TimeoutError,
  BlockingOnMainThreadError,
} from './errors.js';
export type { RegisterServiceOptions, ServiceManagerOptions, CallOptions, Placement, ExposeOptions, RemoteServiceOptions } from './options.js';
export type { ServiceMiddleware, CallInfo, CallOutcome } from './middleware.js';
export type { ServiceContext } from './methods.js';
export type { AsyncProxy, SyncProxy } from './proxy.js';
export type { ServiceClientHandle } from './protocol.js';
export { isClientHandle } from './protocol.js';
export { PayloadEncoder, PayloadDecoder } from './value-codec.js';
export { op } from '../pool/op.js';
export type { OpRef } from '../pool/op.js';
