/**
 * Keyed state end to end (DESIGN.md's "State" example): orders from a JSONL file update each
 * user's total and a per-minute count (a windowed table); each order's result goes to
 * totals.jsonl. Checkpoints every second make it exactly-once: kill it (Ctrl-C twice, or kill -9)
 * and run it again, and it resumes from its last checkpoint; the tables and totals.jsonl end up
 * as one uninterrupted run would have made them.
 *
 *   npx tsx examples/state.ts                                  # its own environment (2 workers)
 *   npx ringflow run examples/state.ts --state .ringflow/state  # the environment ringflow run makes
 *
 * ORDERS sets how many orders it generates (default 200 000, in .ringflow/example-state/, made once);
 * delete that folder and .ringflow/state to start over.
 */
import { existsSync, mkdirSync, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { fromFile, toFile } from '../src/connectors/index.js';
import { StreamEnvironment } from '../src/stream/index.js';

const COUNT = Number(process.env.ORDERS ?? 200_000);
const folder = path.resolve('.ringflow/example-state');
const ordersFile = path.join(folder, 'orders.jsonl');
const totalsFile = path.join(folder, 'totals.jsonl');

/** Orders of 10 000 users over the 50 minutes from now (the tables' windows follow the orders' times). */
async function makeOrders(): Promise<void> {
  if (existsSync(ordersFile)) return;
  mkdirSync(folder, { recursive: true });
  const t0 = Date.now();
  const out = createWriteStream(ordersFile);
  for (let i = 0; i < COUNT; i++) {
    const order = { id: i, user: `u${(i * 7919) % 10_000}`, amount: 1 + ((i * 31) % 1000), ts: t0 + Math.floor((i * 3_000_000) / COUNT) };
    if (!out.write(`${JSON.stringify(order)}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** The pipeline, on whatever environment it is given (ringflow run passes one with --state). */
export default async function build(env: StreamEnvironment): Promise<void> {
  await makeOrders();
  env.table<number>('totals', { default: () => 0 });
  env.table<number>('per-minute', { default: () => 0 }).tumbling(60_000, { expiresMs: 3_600_000 });
  env
    .from(fromFile<string>(ordersFile, { format: 'lines' })) // replayable: resumes from its checkpointed byte offset
    .map((line: string) => JSON.parse(line) as { id: number; user: string; amount: number; ts: number }) // parsed on the workers
    .keyBy((o) => o.user)
    .map((o, ctx) => {
      const totals = ctx.table<number>('totals'); // by name: operators capture nothing
      totals.set(o.user, (totals.get(o.user) as number) + o.amount);
      const perMinute = (ctx.table<number>('per-minute') as any).relativeTo((r: { ts: number }) => r.ts);
      perMinute.update(o.user, (n: number) => n + 1);
      return { id: o.id, user: o.user, total: totals.get(o.user), minute: perMinute.get(o.user).current() };
    })
    .to(toFile(totalsFile)); // transactional: committed at each checkpoint
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const env = new StreamEnvironment({ workers: 2, appId: 'shop', stateDir: '.ringflow/state', checkpointIntervalMs: 1000 });
  env.onWarning((w) => console.log(`warning ${w.code}: ${w.message}`));
  await build(env);
  const started = performance.now();
  const result = await env.execute(); // after a crash, the same call recovers
  const seconds = (performance.now() - started) / 1000;
  console.log(`done in ${seconds.toFixed(1)} s: ${result.checkpoints?.count ?? 0} checkpoints (last id ${result.checkpoints?.lastId}), ${result.checkpoints?.restarts ?? 0} restarts`);
  console.log(`totals of u42: ${await env.tables.get('totals', 'u42')}; users: ${(await env.tables.entries('totals')).length}; output: ${totalsFile}`);
  await env.close();
}
