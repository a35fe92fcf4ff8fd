export { SageFlowService, SageFlowProducer } from './sage-flow-service.js';
export { SageFlowStateError, SageFlowQueueFullError, SageFlowSinkError, SageFlowRunError, SageFlowCloseTimeoutError } from './errors.js';
export type { SageFlowServiceOptions, SageFlowHandle, VectorSink } from './sage-flow-service.js';
