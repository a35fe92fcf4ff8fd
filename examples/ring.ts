/**
 * The SharedRing on its own: the main thread writes frames, a worker reads them, no postMessage.
 *
 *   npx tsx examples/ring.ts
 */
import { isMainThread, workerData } from 'node:worker_threads';
import { spawnWorker } from '../src/pool/index.js';
import { SharedRing } from '../src/ring/index.js';

if (isMainThread) {
  const ring = SharedRing.create({ capacity: 1 << 16 });
  const worker = spawnWorker(new URL(import.meta.url), { buffer: ring.buffer });
  const frame = new Uint8Array(56);
  const fields = new DataView(frame.buffer);
  const started = performance.now();
  for (let i = 0; i < 1_000_000; i++) {
    fields.setUint32(0, i, true);
    if (!ring.tryWrite(frame, 1)) await ring.writeAsync(frame, 1); // waits for room without blocking
  }
  ring.close();
  const sum = await new Promise((resolve) => worker.once('message', resolve));
  console.log(`1 M frames in ${(performance.now() - started).toFixed(0)} ms; the worker summed ids to ${sum}`);
} else {
  const ring = SharedRing.attach(workerData.buffer);
  let sum = 0;
  const view = new DataView(ring.buffer, ring.data.byteOffset);
  while (ring.waitReadable()) ring.drain((_type, _data, offset) => (sum += view.getUint32(offset, true)));
  (await import('node:worker_threads')).parentPort!.postMessage(sum);
}
