/**
 * A service in a worker thread, called from the main thread (async) and from inside an operator
 * (synchronously, through ctx.services), over shared-memory rings.
 *
 *   npx tsx examples/services.ts
 */
import { op, StreamEnvironment } from '../src/stream/index.js';
import { moduleBeside } from './lib/module-url.js';

const env = new StreamEnvironment({ workers: 2 });
env.registerService('inventory', op(moduleBeside(import.meta.url, './lib/inventory'), 'Inventory'), {
  placement: 'worker',
  maxRestarts: 3,
  options: { initial: { apple: 50, pear: 20 } },
});
await env.services.start();
console.log('apples in stock:', await env.services.call('inventory', 'available', ['apple'], { timeoutMs: 100 }));

const orders = Array.from({ length: 100 }, (_, i) => ({ id: i, item: i % 3 === 0 ? 'pear' : 'apple', count: 1 }));
let accepted = 0;
env
  .fromIterable(orders)
  .map((o, ctx) => ({ ...o, ok: ctx.services.inventory!.reserve!(o.item, o.count) as boolean }))
  .sink((o) => void (o.ok && accepted++));
await env.execute();

console.log(`accepted ${accepted} of ${orders.length} orders`);
console.log('left:', await env.services.call('inventory', 'available', ['apple']), 'apples,', await env.services.call('inventory', 'available', ['pear']), 'pears');
console.log('status:', env.services.status('inventory'));
await env.close();
