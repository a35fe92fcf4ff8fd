/**
 * Keyed state with 1 M keys: how long recovery takes (open the store, read the committed
 * checkpoint, rebuild the table) and how long a full checkpoint takes (encode, write, fsync),
 * next to a careful hand-written baseline: a `Map` saved as a JSON-lines file (one
 * `{"k":…,"v":…}` per line, fsync'd) and loaded back with `JSON.parse` per line; and the memory
 * the 1 M keys take in a table. Single thread, no worker involved.
 *
 * Then issue 14's job (bench/lib/state-job.ts): 1 M orders from a JSONL file into two tables and
 * a JSONL output, on 2 workers with checkpoints every second, the same pipeline without a
 * stateDir, and a hand-written single-thread version, timed in turns. Goals: recovery of 1 M keys ≤ 2 s; memory ≤
 * 2× the data; the checkpointed job ≥ 1.5× the hand-written one, and ≥ 0.75× itself without
 * checkpoints. The files live in the OS temp folder.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FileStateStore, StatePartition, TableDeclaration, storedDeclarations } from '../../src/state/index.js';
import { startOfThisMinute, writeOrders } from '../../test/helpers/orders-workload.js';
import { collectGarbage, interleaved, timedFigure, timedSide, type Contender } from '../lib/interleave.js';
import { budget, throughput } from '../lib/measure.js';
import { runHandWritten, runPipeline } from '../lib/state-job.js';
import { quotient, ratio, type Suite } from '../lib/suite.js';

const KEYS = 1_000_000;
const APP = 'bench';
const ORDERS = 1_000_000;
const USERS = 100_000;

/** A full garbage collection, then the heap in use. */
function heapAfterGc(): number {
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

function declarations() {
  return [new TableDeclaration<number>('totals', { default: () => 0 })];
}

function filledPartition(): StatePartition {
  const p = new StatePartition({ declarations: declarations(), index: 0, parallelism: 1, name: 'keyed.0' });
  const t = p.plain<number>('totals');
  for (let i = 0; i < KEYS; i++) t.set(`user-${i}`, (i * 7919) % 100_000);
  return p;
}

function checksum(entries: Iterable<[string, number]>): number {
  let sum = 0;
  let n = 0;
  for (const [, v] of entries) {
    sum += v;
    n++;
  }
  if (n !== KEYS) throw new Error(`state bench: ${n} keys restored, expected ${KEYS}`);
  return sum;
}

export const state: Suite = {
  name: 'state',
  title: 'Keyed state, 1 M keys: recovery and a full checkpoint vs a Map saved as JSON lines',
  async run(ctx) {
    const b = budget(ctx.quick, { iterations: 5, time: 0, warmupIterations: 1, warmupTime: 0 }, { iterations: 2, warmupIterations: 1 });
    const dir = mkdtempSync(path.join(tmpdir(), 'ringflow-bench-state-'));
    try {
      const spec = { appId: APP, maxParallelism: 128, tables: storedDeclarations(declarations()) };
      const heapBefore = heapAfterGc();
      const source = filledPartition();
      // The table's heap plus the typed arrays its keys live in (counted by the table itself:
      // process-wide ArrayBuffer totals move with what earlier suites free).
      const tableBytes = heapAfterGc() - heapBefore + source.plain<number>('totals').externalBytes;
      const expected = checksum(source.plain<number>('totals').entries());
      const common = { items: KEYS, unit: 'keys/s', budget: b };

      // A full checkpoint: every key encoded, written, fsync'd, and the manifest committed.
      let id = 0;
      const store = new FileStateStore({ stateDir: dir, appId: APP });
      await store.open(spec);
      ctx.report(
        await throughput({
          ...common,
          id: 'state.checkpoint.full',
          label: 'full checkpoint of 1 M keys (encode + write + fsync + commit)',
          fn: async () => {
            id++;
            const writer = store.writer('keyed.0');
            const extent = await writer.write(source.takeChanges(id, true));
            await store.commit({ id, partitions: [extent], sources: {} });
            await writer.close();
          },
        }),
      );
      await store.close();

      ctx.report(
        await throughput({
          ...common,
          id: 'state.recover',
          label: 'recovery of 1 M keys (open + read + rebuild the table)',
          fn: async () => {
            const s = new FileStateStore({ stateDir: dir, appId: APP });
            const opened = await s.open(spec);
            const p = new StatePartition({ declarations: declarations(), index: 0, parallelism: 1, name: 'keyed.0' });
            await p.restore(s, opened.checkpoint!);
            if (checksum(p.plain<number>('totals').entries()) !== expected) throw new Error('state bench: restored values differ');
          },
        }),
      );

      // Baseline: a Map written as JSON lines (one write, fsync) and read back with JSON.parse per line.
      const jsonl = path.join(dir, 'baseline.jsonl');
      const map = new Map<string, number>(source.plain<number>('totals').entries());
      ctx.report(
        await throughput({
          ...common,
          id: 'state.baseline.save',
          label: 'baseline: Map → JSON lines file (JSON.stringify per entry, one write, fsync)',
          fn: async () => {
            const lines: string[] = [];
            for (const [k, v] of map) lines.push(JSON.stringify({ k, v }));
            const handle = await fsp.open(jsonl, 'w');
            await handle.writeFile(lines.join('\n') + '\n');
            await handle.sync();
            await handle.close();
          },
        }),
      );
      ctx.report(
        await throughput({
          ...common,
          id: 'state.baseline.load',
          label: 'baseline: JSON lines file → Map (read, split, JSON.parse per line)',
          fn: async () => {
            const text = await fsp.readFile(jsonl, 'utf8');
            const loaded = new Map<string, number>();
            let start = 0;
            for (let nl = text.indexOf('\n'); nl >= 0; start = nl + 1, nl = text.indexOf('\n', start)) {
              const row = JSON.parse(text.slice(start, nl)) as { k: string; v: number };
              loaded.set(row.k, row.v);
            }
            if (checksum(loaded.entries()) !== expected) throw new Error('state bench: baseline values differ');
          },
        }),
      );
      const sizes = await Promise.all([fsp.readdir(path.join(dir, APP)), fsp.stat(jsonl)]);
      const segment = sizes[0].find((n) => n.startsWith('seg-'))!;
      const segmentBytes = (await fsp.stat(path.join(dir, APP, segment))).size;
      ctx.log(`on disk: segment ${(segmentBytes / 1e6).toFixed(1)} MB, JSON lines ${(sizes[1].size / 1e6).toFixed(1)} MB`);
      // The data: the keys and values as the JSON-lines file holds them.
      ctx.report({
        id: 'state.memory.perData',
        label: 'memory (heap + its typed arrays) of a table with 1 M keys ÷ the size of its data (the JSON lines file)',
        kind: 'latency',
        unit: '×',
        statistic: 'once',
        value: tableBytes / sizes[1].size,
        detail: { tableMB: tableBytes / 1e6, dataMB: sizes[1].size / 1e6 },
      });
      map.clear();

      await jobFigures(ctx, dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  ratios: [
    ratio('state.job.vsHandWritten', 'job with checkpoints every second, 2 workers, vs hand-written single thread (events/s)', 'state.job.checkpointed', 'state.job.handWritten'),
    ratio('state.job.vsPlain', 'job with checkpoints vs the same pipeline without stateDir (events/s)', 'state.job.checkpointed', 'state.job.plain'),
    ratio('state.recover.vsBaseline', 'recovery vs JSON-lines load (keys/s)', 'state.recover', 'state.baseline.load'),
    ratio('state.checkpoint.vsBaseline', 'full checkpoint vs JSON-lines save (keys/s)', 'state.checkpoint.full', 'state.baseline.save'),
  ],
  goals: [
    {
      id: 'state.recover.1M',
      label: 'recovery of 1 M keys (median iteration)',
      value: (f) => quotient(KEYS * 1000, f.get('state.recover')?.value),
      op: '<=',
      target: 2000,
      unit: 'ms',
    },
    { id: 'state.memory.1M', label: 'memory of 1 M keys ÷ the data', value: (f) => f.get('state.memory.perData')?.value, op: '<=', target: 2, unit: '×' },
    {
      id: 'state.job.1M',
      label: '1 M-event job, checkpoints every second, 2 workers ÷ hand-written single thread',
      value: (f) => quotient(f.get('state.job.checkpointed')?.value, f.get('state.job.handWritten')?.value),
      op: '>=',
      target: 1.5,
      unit: '×',
    },
    {
      id: 'state.job.checkpointCost',
      label: 'the job with checkpoints ÷ without (cost ≤ 25%)',
      value: (f) => quotient(f.get('state.job.checkpointed')?.value, f.get('state.job.plain')?.value),
      op: '>=',
      target: 0.75,
      unit: '×',
    },
  ],
};

/**
 * The 1 M-order job three ways, the same file each time; every iteration starts from scratch. The
 * three are timed in turns (bench/lib/interleave.ts): in blocks, the hand-written thread's
 * iterations fell on other stretches of the shared box than the pipeline's.
 */
async function jobFigures(ctx: Parameters<Suite['run']>[0], dir: string): Promise<void> {
  const ordersFile = path.join(dir, 'orders.jsonl');
  await writeOrders(ordersFile, { count: ORDERS, users: USERS, t0: startOfThisMinute() });
  const outFile = path.join(dir, 'totals.jsonl');
  let run = 0;
  const checkpoints: number[] = [];
  const side = (id: string, label: string, job: () => Promise<unknown>, after?: () => Promise<unknown>): Contender =>
    timedSide(job, (ms) => ctx.report(timedFigure(id, label, ORDERS, ms, 'events/s')), after);
  await interleaved(
    ctx.quick ? 1 : 5,
    [
      side(
        'state.job.checkpointed',
        '1 M orders → 2 tables → JSONL, 2 workers, checkpoints every 1 s (fromFile lines, parse on the workers, toFile transactional)',
        async () => checkpoints.push(await runPipeline(ordersFile, outFile, path.join(dir, `job-state-${++run}`))),
        () => fsp.rm(path.join(dir, `job-state-${run}`), { recursive: true, force: true }),
      ),
      side('state.job.plain', 'the same pipeline without stateDir (tables in memory, toFile straight through)', () => runPipeline(ordersFile, outFile)),
      side(
        'state.job.handWritten',
        'hand-written single thread: read, JSON.parse, Maps, output + changelog appended per 4096, fsync each second',
        () => runHandWritten(ordersFile, outFile, path.join(dir, 'hand', 'changelog')),
      ),
    ],
    ctx.quick ? 0 : 1,
  );
  ctx.log(`checkpoints per run: ${checkpoints.join(', ')}`);
}
