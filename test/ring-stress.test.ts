import { describe, expect, it } from 'vitest';
import type { Worker } from 'node:worker_threads';
import { spawnWorker } from '../src/pool/index.js';
import { SharedRing } from '../src/ring/index.js';
import { checkFrame, runLengthOf, type ProducerMode } from './fixtures/ring-frames.js';

const PRODUCER = new URL('./fixtures/ring-producer.ts', import.meta.url);

function exited(worker: Worker): Promise<void> {
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exited with ${code}`))));
  });
}

describe('SharedRing under several producer threads', () => {
  it('4 producers × 1 M frames of random sizes: each arrives once, intact, in order per producer', async () => {
    // One producer per write path: single frames (write, claim + commit) and published runs.
    const modes: ProducerMode[] = ['write', 'claim', 'writeMany', 'encodeMany'];
    const producers = modes.length;
    const count = 1_000_000;
    const maxPayload = 72;
    const ring = SharedRing.create({ capacity: 1 << 16 });
    const workers = Array.from({ length: producers }, (_, producer) =>
      spawnWorker(PRODUCER, { buffer: ring.buffer, producer, count, maxPayload, mode: modes[producer] }),
    );
    const done = Promise.all(workers.map(exited)).then(() => ring.close());

    const nextSeq = new Array<number>(producers).fill(0);
    const problems: string[] = [];
    const view = new DataView(ring.buffer, ring.data.byteOffset, ring.capacity);
    const onFrame = (type: number, data: Uint8Array, offset: number, length: number) => {
      const producer = view.getUint32(offset, true);
      const seq = view.getUint32(offset + 4, true);
      if (type !== producer || producer >= producers) {
        problems.push(`frame of type ${type} from producer ${producer}`);
        return;
      }
      if (seq !== nextSeq[producer]) problems.push(`producer ${producer}: expected seq ${nextSeq[producer]}, got ${seq}`);
      nextSeq[producer] = seq + 1;
      const bad = checkFrame(data, offset, length, producer, seq, maxPayload, runLengthOf(modes[producer]!));
      if (bad) problems.push(`producer ${producer} seq ${seq}: ${bad}`);
    };
    while (await ring.readable(20_000)) {
      ring.drain(onFrame);
      if (problems.length > 10) break;
    }
    await done;
    expect(problems).toEqual([]);
    expect(nextSeq).toEqual(new Array(producers).fill(count));
    expect(ring.stats().framesRead).toBe(producers * count);
  }, 60_000);
});
