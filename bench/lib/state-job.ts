/**
 * Issue 14's job for the state bench: 1 M orders in a JSONL file (100 k users) updating each
 * user's total and a per-minute count, each order's result written to a JSONL file; as a ringflow
 * pipeline (test/helpers/orders-workload.ts) and as a careful hand-written single-thread program.
 */
import { mkdirSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { StreamEnvironment } from '../../src/stream/index.js';
import { MINUTE, ordersPipeline } from '../../test/helpers/orders-workload.js';

/** The pipeline on 2 workers; with `stateDir`, checkpoints every second. Returns the checkpoints taken. */
export async function runPipeline(ordersFile: string, outFile: string, stateDir?: string): Promise<number> {
  const env = new StreamEnvironment(
    stateDir === undefined ? { workers: 2 } : { workers: 2, appId: 'bench', stateDir, checkpointIntervalMs: 1000 },
  );
  ordersPipeline(env, ordersFile, outFile);
  try {
    const result = await env.execute();
    return result.checkpoints?.count ?? 0;
  } finally {
    await env.close();
  }
}

const CHUNK = 1 << 20;
const BATCH = 4096;

/**
 * The same job by hand, on one thread: the file read in 1 MiB chunks (the next read in flight
 * while a chunk is split), JSON.parse per line, two Maps, each result appended to the output, the
 * changed entries appended to a changelog every 4096 orders, both files fsync'd every second and
 * at the end.
 */
export async function runHandWritten(ordersFile: string, outFile: string, changelogFile: string): Promise<void> {
  mkdirSync(path.dirname(changelogFile), { recursive: true });
  const input = await open(ordersFile, 'r');
  const out = await open(outFile, 'w');
  const changelog = await open(changelogFile, 'w');
  const totals = new Map<string, number>();
  const perMinute = new Map<string, number>();
  const changed = new Map<string, number>();
  let output: string[] = [];
  let inBatch = 0;
  let lastSync = performance.now();
  let outAt = 0;
  let logAt = 0;
  const append = async (handle: FileHandle, text: string, at: number): Promise<number> => {
    const data = Buffer.from(text);
    await handle.write(data, 0, data.length, at);
    return at + data.length;
  };
  const endBatch = async (): Promise<void> => {
    outAt = await append(out, output.join(''), outAt);
    output = [];
    let log = '';
    for (const [k, v] of changed) log += `${k}\t${v}\n`;
    changed.clear();
    logAt = await append(changelog, log, logAt);
    inBatch = 0;
    if (performance.now() - lastSync >= 1000) {
      await Promise.all([out.sync(), changelog.sync()]);
      lastSync = performance.now();
    }
  };
  try {
    const size = (await input.stat()).size;
    const read = (at: number) => {
      const buffer = Buffer.allocUnsafe(Math.min(CHUNK, size - at));
      return input.read(buffer, 0, buffer.length, at).then(() => buffer);
    };
    let next = size > 0 ? read(0) : undefined;
    let carry = '';
    for (let at = 0; next; ) {
      const chunk = await next;
      at += chunk.length;
      next = at < size ? read(at) : undefined;
      const text = carry + chunk.toString('utf8');
      let start = 0;
      for (let nl = text.indexOf('\n'); nl >= 0; start = nl + 1, nl = text.indexOf('\n', start)) {
        const o = JSON.parse(text.slice(start, nl)) as { id: number; user: string; amount: number; ts: number };
        const total = (totals.get(o.user) ?? 0) + o.amount;
        totals.set(o.user, total);
        changed.set(o.user, total);
        const window = `${o.user}@${o.ts - (o.ts % MINUTE)}`;
        const minute = (perMinute.get(window) ?? 0) + 1;
        perMinute.set(window, minute);
        changed.set(window, minute);
        output.push(`${JSON.stringify({ id: o.id, user: o.user, total, minute })}\n`);
        if (++inBatch === BATCH) await endBatch();
      }
      carry = text.slice(start);
    }
    await endBatch();
    await Promise.all([out.sync(), changelog.sync()]);
  } finally {
    await Promise.all([input.close(), out.close(), changelog.close()]);
  }
}
