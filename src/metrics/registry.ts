import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { CheckpointStats, EnvironmentMetrics } from '../stream/index.js';

/**
 * A Prometheus registry whose values are read from `read()` at each scrape: nothing is counted
 * on the pipeline's hot path for metrics' sake — the runtime's own counters are the source.
 */
export function createRegistry(read: () => EnvironmentMetrics, options: { defaultMetrics?: boolean } = {}): Registry & { close(): void } {
  const registry = new Registry();
  // prom-client's default bundle (GC observers, handles, …) costs ~0.6 ms a scrape here; a
  // pipeline's main thread is its bottleneck, so it is opt-in and the event loop is measured below.
  if (options.defaultMetrics === true) collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  new Gauge({
    name: 'ringflow_event_loop_delay_seconds',
    help: "The main thread's event-loop delay since the previous scrape (quantiles and max).",
    labelNames: ['quantile'],
    registers: [registry],
    collect() {
      if (loop.count === 0) return;
      this.set({ quantile: '0.5' }, loop.percentile(50) / 1e9);
      this.set({ quantile: '0.99' }, loop.percentile(99) / 1e9);
      this.set({ quantile: '1' }, loop.max / 1e9);
      loop.reset();
    },
  });
  new Gauge({
    name: 'ringflow_process_resident_memory_bytes',
    help: 'Resident set size of the process (every thread).',
    registers: [registry],
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });

  // One read per scrape, shared by every metric's collect().
  let cached: { at: number; value: EnvironmentMetrics } | undefined;
  const snapshot = () => {
    const now = performance.now();
    if (!cached || now - cached.at > 50) cached = { at: now, value: read() };
    return cached.value;
  };

  /** A counter set to an absolute value the runtime keeps (prom-client counters only add). */
  const absolute = (counter: Counter<string>, labels: Record<string, string>, value: number) => counter.inc(labels, value);

  new Counter({
    name: 'ringflow_source_records_total',
    help: 'Records each source has put into the pipeline.',
    labelNames: ['source'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [source, n] of Object.entries(snapshot().job?.sources ?? {})) absolute(this, { source }, n);
    },
  });
  new Counter({
    name: 'ringflow_sink_records_total',
    help: 'Records each sink has received.',
    labelNames: ['sink'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [sink, n] of Object.entries(snapshot().job?.sinks ?? {})) absolute(this, { sink }, n);
    },
  });
  new Counter({
    name: 'ringflow_stage_frames_in_total',
    help: 'Frames each stage instance has taken from its input ring (one frame holds a record or a batch).',
    labelNames: ['stage', 'instance'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of snapshot().job?.stages ?? []) absolute(this, { stage: s.name, instance: String(s.instance) }, s.framesIn);
    },
  });
  const stageCounter = (name: string, help: string, pick: (s: import('../stream/index.js').StageSnapshot) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['stage', 'instance'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of snapshot().job?.stages ?? []) absolute(this, { stage: s.name, instance: String(s.instance) }, pick(s));
      },
    });
  stageCounter('ringflow_stage_records_in_total', 'Records each stage instance has taken in.', (s) => s.recordsIn);
  stageCounter('ringflow_stage_records_out_total', "Records each stage instance's chain has emitted.", (s) => s.recordsOut);
  stageCounter('ringflow_stage_errors_total', "Records each stage instance's operators failed on.", (s) => s.failures);
  new Gauge({
    name: 'ringflow_stage_watermark_lag_seconds',
    help: "How far each stage instance's input watermark trails the wall clock (event time in ms since the epoch).",
    labelNames: ['stage', 'instance'],
    registers: [registry],
    collect() {
      this.reset();
      const now = Date.now();
      for (const s of snapshot().job?.stages ?? []) if (Number.isFinite(s.watermark)) this.set({ stage: s.name, instance: String(s.instance) }, (now - s.watermark) / 1000);
    },
  });
  new Gauge({
    name: 'ringflow_stage_input_backlog_bytes',
    help: "Bytes waiting in each stage instance's input ring.",
    labelNames: ['stage', 'instance'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of snapshot().job?.stages ?? []) this.set({ stage: s.name, instance: String(s.instance) }, s.backlogBytes);
    },
  });
  new Gauge({
    name: 'ringflow_stage_input_fill_ratio',
    help: "How full each stage instance's input ring is (0-1).",
    labelNames: ['stage', 'instance'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of snapshot().job?.stages ?? []) this.set({ stage: s.name, instance: String(s.instance) }, s.capacityBytes > 0 ? s.backlogBytes / s.capacityBytes : 0);
    },
  });
  new Counter({
    name: 'ringflow_failures_total',
    help: 'Records an operator or sink failed on (reported to onError, or kept for the result).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(snapshot().job?.failures ?? 0);
    },
  });
  new Counter({
    name: 'ringflow_side_outputs_total',
    help: 'Side outputs (late records, …).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(snapshot().job?.sideOutputs ?? 0);
    },
  });
  new Gauge({
    name: 'ringflow_job_running',
    help: '1 while a job runs.',
    registers: [registry],
    collect() {
      this.set(snapshot().running ? 1 : 0);
    },
  });
  new Counter({
    name: 'ringflow_service_requests_total',
    help: 'Requests each service has executed.',
    labelNames: ['service'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of snapshot().services) absolute(this, { service: s.name }, s.requests);
    },
  });
  new Counter({
    name: 'ringflow_service_errors_total',
    help: 'Requests each service failed (threw, rejected, unknown method).',
    labelNames: ['service'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of snapshot().services) absolute(this, { service: s.name }, s.errors);
    },
  });
  new Counter({
    name: 'ringflow_service_restarts_total',
    help: 'Worker restarts of each service.',
    labelNames: ['service'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of snapshot().services) absolute(this, { service: s.name }, s.restarts);
    },
  });
  new Gauge({
    name: 'ringflow_service_latency_seconds',
    help: 'Round-trip latency of successful calls to each service, as its callers measured it.',
    labelNames: ['service', 'quantile'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of snapshot().services) {
        this.set({ service: s.name, quantile: '0.5' }, s.latency.p50 / 1e6);
        this.set({ service: s.name, quantile: '0.99' }, s.latency.p99 / 1e6);
      }
    },
  });
  new Gauge({
    name: 'ringflow_service_queued',
    help: "Requests waiting in each service's queues.",
    labelNames: ['service'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of snapshot().services) this.set({ service: s.name }, s.queued);
    },
  });
  // Jobs with state (stateDir / stateStore): checkpoints, restarts and table sizes.
  const checkpoints = () => snapshot().job?.checkpoints;
  /** One series from the checkpoint stats: a counter set to its absolute value, or a gauge. */
  const checkpointSeries = (kind: 'counter' | 'gauge', name: string, help: string, pick: (c: CheckpointStats) => number) => {
    const collect = function (this: Counter | Gauge) {
      this.reset();
      const c = checkpoints();
      if (!c) return;
      if (this instanceof Counter) this.inc(pick(c));
      else this.set(pick(c));
    };
    if (kind === 'counter') new Counter({ name, help, registers: [registry], collect });
    else new Gauge({ name, help, registers: [registry], collect });
  };
  checkpointSeries('counter', 'ringflow_checkpoints_total', 'Checkpoints the job has committed.', (c) => c.count);
  checkpointSeries('gauge', 'ringflow_checkpoint_last_id', 'The id of the last committed checkpoint (recovery resumes from it).', (c) => c.lastId);
  checkpointSeries('gauge', 'ringflow_checkpoint_duration_seconds', 'How long the last checkpoint took, from its barriers to its commit.', (c) => c.lastDurationMs / 1000);
  checkpointSeries('gauge', 'ringflow_checkpoint_size_bytes', 'Bytes the last checkpoint wrote into the state store.', (c) => c.lastBytes);
  checkpointSeries('counter', 'ringflow_job_restarts_total', 'Times a crashed worker rolled the job back to its last checkpoint.', (c) => c.restarts);
  new Gauge({
    name: 'ringflow_table_entries',
    help: 'Entries of each table at the last checkpoint (all instances).',
    labelNames: ['table'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [table, n] of Object.entries(checkpoints()?.tableEntries ?? {})) this.set({ table }, n);
    },
  });
  // close() stops the event-loop monitor (a registry lives as long as its server).
  return Object.assign(registry, { close: () => loop.disable() });
}
