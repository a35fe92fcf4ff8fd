import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArraySource } from './helpers/state-connectors.js';
import { createRegistry, startMetricsServer } from '../src/metrics/index.js';
import { StreamEnvironment } from '../src/stream/index.js';

/** name{labels} → value, from Prometheus text. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

describe('metrics', () => {
  it("after a job, /metrics' counters equal the job's result: sources, sinks, per-stage records in/out and errors", async () => {
    const env = new StreamEnvironment({ workers: 2 });
    const failures: unknown[] = [];
    env.onError((f) => void failures.push(f));
    env
      .fromIterable(Array.from({ length: 30_000 }, (_, i) => ({ i })), { name: 'numbers' })
      .map((r: { i: number }) => {
        if (r.i % 1000 === 7) throw new Error('unlucky');
        return r;
      }, { name: 'check' })
      .filter((r: { i: number }) => r.i % 2 === 0, { name: 'evens' })
      .sink(() => {}, { name: 'out' });
    const server = await startMetricsServer({ env, port: 0 });
    try {
      const result = await env.execute();
      const m = samples(await (await fetch(`http://${server.address}/metrics`)).text());
      expect(m.get('ringflow_source_records_total{source="numbers"}')).toBe(30_000);
      expect(m.get('ringflow_sink_records_total{sink="out"}')).toBe(result.sinks.out);
      expect(result.sinks.out).toBe(15_000); // the failing records (i % 1000 === 7) are odd: filtered anyway
      const stage = (metric: string) => [0, 1].reduce((n, i) => n + (m.get(`${metric}{stage="check→evens",instance="${i}"}`) ?? 0), 0);
      expect(stage('ringflow_stage_records_in_total')).toBe(30_000);
      expect(stage('ringflow_stage_records_out_total')).toBe(15_000);
      expect(stage('ringflow_stage_errors_total')).toBe(30);
      expect(m.get('ringflow_failures_total')).toBe(30);
      expect(failures).toHaveLength(30);
      expect(m.get('ringflow_job_running')).toBe(0);
    } finally {
      await server.close();
      await env.close();
    }
  }, 60_000);

  it("a job with tables: checkpoints, their size and duration, and table entries match the job's result", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'ringflow-metrics-state-'));
    const env = new StreamEnvironment({ workers: 2, appId: 'metrics-test', stateDir, checkpointIntervalMs: 100 });
    env.table<number>('totals', { default: () => 0 });
    const orders = Array.from({ length: 20_000 }, (_, i) => ({ user: `u${i % 100}`, amount: 1 }));
    env
      .from(new ArraySource('orders', orders, { batchSize: 500, delayMs: 5 }))
      .keyBy((o: { user: string }) => o.user)
      .map((o: { user: string; amount: number }, ctx) => {
        const t = ctx.table('totals');
        t.set(o.user, t.get(o.user) + o.amount);
        return o;
      })
      .sink(() => {});
    const server = await startMetricsServer({ env, port: 0 });
    try {
      const result = await env.execute();
      const m = samples(await (await fetch(`http://${server.address}/metrics`)).text());
      expect(result.checkpoints!.count).toBeGreaterThan(1);
      expect(m.get('ringflow_checkpoints_total')).toBe(result.checkpoints!.count);
      expect(m.get('ringflow_checkpoint_last_id')).toBe(result.checkpoints!.lastId);
      expect(m.get('ringflow_checkpoint_size_bytes')).toBe(result.checkpoints!.lastBytes);
      expect(m.get('ringflow_checkpoint_duration_seconds')).toBeCloseTo(result.checkpoints!.lastDurationMs / 1000, 6);
      expect(m.get('ringflow_job_restarts_total')).toBe(0);
      expect(m.get('ringflow_table_entries{table="totals"}')).toBe(100);
    } finally {
      await server.close();
      await env.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('reads nothing from the pipeline until scraped, and reports services', async () => {
    const env = new StreamEnvironment({ workers: 1 });
    let reads = 0;
    const registry = createRegistry(() => (reads++, env.metrics()), { defaultMetrics: false });
    expect(reads).toBe(0);
    const text = await registry.metrics();
    expect(reads).toBe(1); // one read serves every metric of a scrape
    expect(text).toContain('ringflow_job_running 0');
    registry.close();
    await env.close();
  }, 30_000);
});
