export { serve } from './server.js';
export type { MetricsRegistry, Server, ServeOptions, ServerStats } from './server.js';
export { ServingStream } from './serving-stream.js';
export { ServeError, ServeErrorCode } from './errors.js';
export { SlotTable, MAX_ID_BYTES, MAX_IN_FLIGHT_RECORDS, FanOutTooLargeError } from './slot-table.js';
export { uuidv7 } from './uuid.js';
