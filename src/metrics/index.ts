// ringflow metrics: Prometheus text at /metrics (prom-client), read from the runtime's own
// counters at scrape time, and a live page of the pipeline at /.
export { createRegistry } from './registry.js';
export { startMetricsServer, type MetricsServer, type MetricsServerOptions } from './server.js';
