export { SageFlowService, SageFlowProducer, SageFlowStateError } from './sage-flow-service.js';
export type { SageFlowServiceOptions, SageFlowHandle, VectorSink } from './sage-flow-service.js';
