/**
 * An HTTP endpoint whose answer is computed by a pipeline: each POSTed JSON body is a payment,
 * scored by a model that runs as a worker service, and flagged ones come back as the response.
 *
 *   npx tsx examples/serve.ts
 *   curl -s localhost:8080/v1/process/sync -H 'content-type: application/json' -d '{"amount":900,"foreign":1}'
 */
import { serve } from '../src/serve/index.js';
import { op, StreamEnvironment } from '../src/stream/index.js';
import { moduleBeside } from './lib/module-url.js';

interface Payment {
  id?: string;
  amount: number;
  foreign?: number;
  night?: number;
}

const env = new StreamEnvironment({ workers: 2 });
env.registerService('scorer', op(moduleBeside(import.meta.url, './lib/scorer'), 'Scorer'), { placement: 'worker' });

const server = await serve<Payment>(
  env,
  (payments) =>
    payments
      .filter((p) => typeof p.amount === 'number')
      .map((p, ctx) => ({ request: ctx.requestId, amount: p.amount, risk: ctx.services.scorer!.score!(p) as number }))
      .map((r) => ({ ...r, flagged: r.risk > 0.5 })),
  { port: Number(process.env.PORT ?? 8080), requestTimeoutMs: 5_000 },
);
console.log(`serving on ${server.url}`);

// A few requests of our own, then close (a real service would keep running until a signal).
const post = (body: unknown) =>
  fetch(`${server.url}/v1/process/sync`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => [r.status, await r.json()]);
console.log(await post({ amount: 40 }));
console.log(await post({ amount: 900, foreign: 1, night: 1 }));
console.log(await post({ note: 'no amount: filtered out, answered []' }));
const accepted = await fetch(`${server.url}/v1/process/async`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'pay-42' }, body: '{"amount":300,"foreign":1}' });
console.log(accepted.status, await accepted.json());
await new Promise((r) => setTimeout(r, 100));
console.log(await (await fetch(`${server.url}/v1/process/fetch?id=pay-42`)).json());
console.log(server.stats());
await server.close();
