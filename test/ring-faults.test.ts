import { describe, expect, it } from 'vitest';
import type { Worker } from 'node:worker_threads';
import { spawnWorker } from '../src/pool/index.js';
import {
  ClaimRevokedError,
  CorruptFrameError,
  InvalidPayloadError,
  RingDescriptor as D,
  SharedRing,
} from '../src/ring/index.js';
import { UnknownOptionError } from '../src/errors.js';
import { checkFrame, type ProducerMode } from './fixtures/ring-frames.js';

const PRODUCER = new URL('./fixtures/ring-producer.ts', import.meta.url);
const DEAD_CLAIM = new URL('./fixtures/ring-dead-claim.ts', import.meta.url);

function exited(worker: Worker): Promise<number> {
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', resolve);
  });
}

/** Starts a worker that claims a frame and hangs; resolves once it has claimed. */
async function claimAndHang(ring: SharedRing, mode: 'claim' | 'encodeMany' | 'slow', extra: object = {}): Promise<Worker> {
  const worker = spawnWorker(DEAD_CLAIM, { buffer: ring.buffer, mode, ...extra });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  return worker;
}

/**
 * Two healthy producers write `count` frames each while the main thread reads; resolves with
 * what the reader saw. The ring is closed once both producers are done.
 */
async function produceAndRead(ring: SharedRing, count: number, read: 'drain' | 'readAsync') {
  const modes: ProducerMode[] = ['write', 'claim'];
  const maxPayload = 40;
  const workers = modes.map((mode, k) => spawnWorker(PRODUCER, { buffer: ring.buffer, producer: k, count, maxPayload, mode }));
  const done = Promise.all(workers.map(exited)).then((codes) => {
    ring.close();
    return codes;
  });
  const nextSeq = [0, 0];
  const problems: string[] = [];
  const onFrame = (type: number, data: Uint8Array, offset: number, length: number) => {
    const view = new DataView(data.buffer, data.byteOffset + offset, length);
    const producer = view.getUint32(0, true);
    const seq = view.getUint32(4, true);
    if (type !== producer || producer > 1) return void problems.push(`frame of type ${type}`);
    if (seq !== nextSeq[producer]) problems.push(`producer ${producer}: expected seq ${nextSeq[producer]}, got ${seq}`);
    nextSeq[producer] = seq + 1;
    const bad = checkFrame(data, offset, length, producer, seq, maxPayload);
    if (bad) problems.push(`producer ${producer} seq ${seq}: ${bad}`);
  };
  // On too many problems, stop reading but close the ring, so the producers end too.
  if (read === 'drain') {
    while (problems.length <= 10 && (await ring.readable(10_000))) ring.drain(onFrame);
  } else {
    for (let frame = await ring.readAsync(10_000); frame !== null && problems.length <= 10; frame = await ring.readAsync(10_000)) {
      onFrame(frame.type, frame.payload, 0, frame.payload.length);
    }
  }
  if (problems.length > 10) ring.close();
  expect(await done).toEqual([0, 0]);
  return { problems, nextSeq };
}

describe('SharedRing: a producer that dies between claim and commit', () => {
  it('the reader revokes the claim after unblockAfterMs and gets every committed frame (drain)', async () => {
    // Past reclaimAfterMs without an acknowledgement, the dead claim's space comes back too.
    const ring = SharedRing.create({ capacity: 4096, unblockAfterMs: 150, reclaimAfterMs: 1000 });
    const dead = await claimAndHang(ring, 'claim');
    await dead.terminate();
    const { problems, nextSeq } = await produceAndRead(ring, 5000, 'drain');
    expect(problems).toEqual([]);
    expect(nextSeq).toEqual([5000, 5000]);
    expect(ring.stats()).toMatchObject({ unblocked: 1, heldBytes: 0 });
    expect(ring.stats().framesRead).toBe(10_000);
    expect(ring.drained).toBe(true);
  }, 30_000);

  it('a run of tryEncodeMany left half encoded is revoked whole; readAsync does not wedge behind it', async () => {
    const ring = SharedRing.create({ capacity: 4096, unblockAfterMs: 150, reclaimAfterMs: 1000 });
    const dead = await claimAndHang(ring, 'encodeMany');
    await dead.terminate();
    const { problems, nextSeq } = await produceAndRead(ring, 3000, 'readAsync');
    expect(problems).toEqual([]);
    expect(nextSeq).toEqual([3000, 3000]);
    expect(ring.stats().unblocked).toBe(1);
  }, 30_000);

  it('unblock() revokes at once when the owner knows the producer is dead (automatic revoke off)', async () => {
    const ring = SharedRing.create({ capacity: 4096, unblockAfterMs: 0 });
    const dead = await claimAndHang(ring, 'claim');
    ring.tryWrite(new Uint8Array([1, 2, 3]), 5); // behind the dead claim
    await dead.terminate();
    expect(ring.tryRead()).toBeNull();
    expect(ring.unblock()).toBe(true);
    expect(ring.tryRead()).toEqual({ type: 5, payload: new Uint8Array([1, 2, 3]) });
    expect(ring.unblock()).toBe(false);
    // The dead claim's space (48 bytes) and the frame read behind it (16) are held back until the
    // owner says no producer of it is left.
    expect(ring.stats()).toMatchObject({ unblocked: 1, usedBytes: 64, heldBytes: 64 });
    expect(ring.releaseRevoked()).toBe(64);
    expect(ring.stats()).toMatchObject({ usedBytes: 0, heldBytes: 0 });
  }, 30_000);
});

describe('SharedRing: a producer that was only slow writes on after its claim was revoked', () => {
  it('its late writes land in space held back for it, never in frames of other producers', async () => {
    const ring = SharedRing.create({ capacity: 4096, unblockAfterMs: 100, reclaimAfterMs: 30_000 });
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const slow = await claimAndHang(ring, 'slow', { flag: flag.buffer, scribbleMs: 1000 });
    const report = new Promise((resolve, reject) => slow.once('message', resolve).once('error', reject));
    const slowExited = exited(slow);
    while (ring.stats().unblocked === 0) {
      ring.drain(() => {});
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    // Two healthy producers wrap the ring many times while the slow one keeps writing its claim.
    const { problems, nextSeq } = await produceAndRead(ring, 50_000, 'drain').finally(() => {
      Atomics.store(flag, 0, 2);
    });
    expect(problems).toEqual([]);
    expect(nextSeq).toEqual([50_000, 50_000]);
    expect(await report).toEqual({ code: 'ERR_CLAIM_REVOKED' });
    expect(await slowExited).toBe(0);
    // Its commit acknowledged the revoke: the space came back without waiting out reclaimAfterMs.
    expect(ring.stats()).toMatchObject({ unblocked: 1, heldBytes: 0, usedBytes: 0 });
  }, 30_000);
});

describe('SharedRing: revoked claims, single thread', () => {
  it('a revoked claim is held back from other producers until its producer gives up on it', () => {
    const ring = SharedRing.create({ capacity: 1024, unblockAfterMs: 0, reclaimAfterMs: 0 });
    const slow = ring.tryClaim(1, 100); // bytes [0, 112)
    expect(ring.unblock()).toBe(true);
    // The slow producer writes on into its claim while another fills the ring round and round.
    const scribble = () => ring.data.fill(0xee, slow, slow + 100);
    let written = 0;
    for (let round = 0; round < 40; round++) {
      const payload = new Uint8Array(100).fill(round);
      if (ring.tryWrite(payload, 2)) written++;
      scribble();
      const frame = ring.tryRead();
      if (frame !== null) expect(frame.payload).toEqual(payload);
    }
    // 8 frames of 112 bytes fit before the held claim; the 9th would have to wrap onto it.
    expect(written).toBe(8);
    expect(ring.stats()).toMatchObject({ heldBytes: 1008, usedBytes: 1008 });
    expect(() => ring.commit(slow)).toThrow(ClaimRevokedError);
    // Its acknowledgement hands the space on at the reader's next look.
    expect(ring.tryRead()).toBeNull();
    expect(ring.stats()).toMatchObject({ heldBytes: 0, usedBytes: 0 });
    for (let round = 0; round < 40; round++) {
      const payload = new Uint8Array(100).fill(round);
      expect(ring.tryWrite(payload, 2)).toBe(true);
      expect(ring.tryRead()?.payload).toEqual(payload);
    }
    expect(ring.stats()).toMatchObject({ unblocked: 1, heldBytes: 0, usedBytes: 0 });
  });

  it('a consumer that takes a ring over holds back what the one before held, even when it unblocks first', () => {
    const first = SharedRing.create({ capacity: 1024, unblockAfterMs: 0, reclaimAfterMs: 0 });
    const slow1 = first.tryClaim(1, 16); // 24 bytes, its producer paused
    first.tryWrite(new Uint8Array([7]), 2);
    expect(first.unblock()).toBe(true);
    expect(first.tryRead()?.type).toBe(2);
    // The first consumer is gone; a second attaches and revokes another stalled claim at once.
    const second = SharedRing.attach(first.buffer);
    const slow2 = second.tryClaim(1, 8);
    second.tryWrite(new Uint8Array([8]), 3);
    expect(second.unblock()).toBe(true);
    expect(() => second.commit(slow2)).toThrow(ClaimRevokedError);
    expect(second.tryRead()).toEqual({ type: 3, payload: new Uint8Array([8]) });
    // slow2's acknowledgement hands nothing on while slow1's space, held by the first, is not.
    expect(second.stats()).toMatchObject({ heldBytes: 72, usedBytes: 72 });
    expect(() => first.commit(slow1)).toThrow(ClaimRevokedError);
    second.releaseRevoked();
    expect(second.stats()).toMatchObject({ heldBytes: 0, usedBytes: 0 });
    for (let round = 0; round < 40; round++) {
      const payload = new Uint8Array(100).fill(round);
      expect(second.tryWrite(payload, 4)).toBe(true);
      expect(second.tryRead()?.payload).toEqual(payload);
    }
  });

  it('a claim swept up before its producer stored its marker is claimed afresh, unwritten', () => {
    const ring = SharedRing.create({ capacity: 1024, unblockAfterMs: 0, reclaimAfterMs: 0 });
    const words = new Int32Array(ring.buffer);
    // A dead producer's 24 bytes (length word 0), then a live producer moves the tail for 16 bytes
    // and is paused before its marker: the revoke sweeps both up.
    Atomics.add(words, D.TAIL_OFFSET >> 2, 40);
    expect(ring.unblock()).toBe(true);
    expect(ring.stats()).toMatchObject({ heldBytes: 40 });
    // What that producer does next: its marker CAS fails, it claims again past the tail.
    ring.releaseRevoked();
    expect(ring.tryWrite(new Uint8Array([9]), 3)).toBe(true);
    expect(ring.tryRead()).toEqual({ type: 3, payload: new Uint8Array([9]) });
  });

  it('a producer that commits after its claim was revoked gets ClaimRevokedError; the ring stays sound', () => {
    const ring = SharedRing.create({ capacity: 1024, unblockAfterMs: 0 });
    const slow = ring.tryClaim(1, 16);
    ring.tryWrite(new Uint8Array([7]), 2);
    expect(ring.unblock()).toBe(true);
    expect(() => ring.commit(slow)).toThrow(ClaimRevokedError);
    expect(() => ring.commit(slow)).toThrow(expect.objectContaining({ code: 'ERR_CLAIM_REVOKED' }));
    // Acknowledged by that commit: the space comes back at the next read.
    expect(ring.tryRead()).toEqual({ type: 2, payload: new Uint8Array([7]) });
    expect(ring.stats().heldBytes).toBe(0);
    for (let round = 0; round < 100; round++) {
      expect(ring.tryWrite(new Uint8Array(50).fill(round), 3)).toBe(true);
      expect(ring.tryRead()?.payload[0]).toBe(round);
    }
    expect(ring.stats()).toMatchObject({ unblocked: 1, usedBytes: 0 });
  });

  it('tryCommit of a revoked claim returns false: the producer writes the frame again and it arrives once', () => {
    const ring = SharedRing.create({ capacity: 1024, unblockAfterMs: 0 });
    const slow = ring.tryClaim(1, 4);
    ring.data.set([1, 2, 3, 4], slow);
    expect(ring.unblock()).toBe(true);
    expect(ring.tryCommit(slow)).toBe(false);
    // Again, as the edge writers and SageFlowService's push do.
    const again = ring.tryClaim(1, 4);
    ring.data.set([1, 2, 3, 4], again);
    expect(ring.tryCommit(again)).toBe(true);
    expect(ring.tryRead()).toEqual({ type: 1, payload: new Uint8Array([1, 2, 3, 4]) });
    expect(ring.tryRead()).toBeNull();
    expect(ring.stats()).toMatchObject({ unblocked: 1, heldBytes: 0, usedBytes: 0 });
  });

  it('a run revoked while its encoder stalls is encoded again: every frame once, in order', () => {
    const ring = SharedRing.create({ capacity: 4096, unblockAfterMs: 0 });
    const calls: number[] = [];
    let stalled = false;
    const written = ring.tryEncodeMany(5, 8, 6, (data, offset, index) => {
      calls.push(index);
      // The consumer gives the run up while the producer is inside it (here: on this thread).
      if (index === 2 && !stalled) {
        stalled = true;
        expect(ring.unblock()).toBe(true);
      }
      data.fill(index + 1, offset, offset + 8);
    });
    expect(written).toBe(6);
    expect(calls).toEqual([0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]);
    const seen: number[] = [];
    ring.drain((type, data, offset, length) => void seen.push(type === 5 && length === 8 ? data[offset]! : -1));
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    expect(ring.stats()).toMatchObject({ unblocked: 1, heldBytes: 0, usedBytes: 0 });
  });

  it('the timed revoke counts from when the reader first saw the claim', async () => {
    const ring = SharedRing.create({ capacity: 1024, unblockAfterMs: 40 });
    const slow = ring.tryClaim(1, 16);
    ring.tryWrite(new Uint8Array([7]), 2);
    expect(ring.drain(() => {})).toBe(0); // starts the watch
    expect(ring.stats().unblocked).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(ring.drain(() => {})).toBe(1);
    expect(ring.stats().unblocked).toBe(1);
    expect(() => ring.commit(slow)).toThrow(ClaimRevokedError);
  });

  it('a claim that never stored its marker (length word 0) is revoked up to the next claim', () => {
    const ring = SharedRing.create({ capacity: 1024, unblockAfterMs: 0 });
    // What a producer that died right after moving the tail leaves: 24 claimed bytes, all 0.
    const words = new Int32Array(ring.buffer);
    Atomics.add(words, D.TAIL_OFFSET >> 2, 24);
    ring.tryWrite(new Uint8Array([4, 4]), 6);
    expect(ring.tryRead()).toBeNull();
    expect(ring.unblock()).toBe(true);
    expect(ring.tryRead()).toEqual({ type: 6, payload: new Uint8Array([4, 4]) });
    // And when nothing follows it: revoked up to the tail.
    Atomics.add(words, D.TAIL_OFFSET >> 2, 40);
    expect(ring.unblock()).toBe(true);
    // Nobody acknowledges a claim that never stored its marker: held until releaseRevoked().
    expect(ring.stats()).toMatchObject({ unblocked: 2, usedBytes: 80, heldBytes: 80 });
    ring.releaseRevoked();
    expect(ring.stats()).toMatchObject({ usedBytes: 0, heldBytes: 0 });
    expect(ring.tryWrite(new Uint8Array([1]), 1)).toBe(true);
    expect(ring.tryRead()?.type).toBe(1);
  });

  it('a single-producer ring revokes too', () => {
    const ring = SharedRing.create({ capacity: 1024, multiProducer: false, unblockAfterMs: 0 });
    ring.tryClaim(1, 8);
    ring.tryWrite(new Uint8Array([1]), 2);
    expect(ring.unblock()).toBe(true);
    expect(ring.tryRead()?.type).toBe(2);
  });
});

describe('SharedRing: bad payloads, corrupt frames, unknown options', () => {
  const notBytes: unknown[] = [new Float32Array([1, 2, 3]), 'abc', [1, 2, 3], 42, null, undefined, new DataView(new ArrayBuffer(4)), { length: 3 }];

  it('a payload that is not a Uint8Array is a TypeError with ERR_INVALID_PAYLOAD; nothing is written', async () => {
    const ring = SharedRing.create({ capacity: 1024 });
    for (const payload of notBytes) {
      expect(() => ring.tryWrite(payload as Uint8Array, 1)).toThrow(InvalidPayloadError);
      expect(() => ring.tryWrite(payload as Uint8Array, 1)).toThrow(TypeError);
      expect(() => ring.tryWriteMany([new Uint8Array(1), payload as Uint8Array], 1)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_PAYLOAD' }),
      );
      await expect(ring.writeAsync(payload as Uint8Array, 1)).rejects.toMatchObject({ code: 'ERR_INVALID_PAYLOAD' });
    }
    expect(() => ring.tryWrite(new Float32Array(4) as unknown as Uint8Array)).toThrow(/Float32Array/);
    expect(ring.stats().usedBytes).toBe(0);
    expect(ring.tryRead()).toBeNull();
    // A Buffer is a Uint8Array.
    expect(ring.tryWrite(Buffer.from([1, 2]), 1)).toBe(true);
    expect(ring.tryRead()?.payload).toEqual(new Uint8Array([1, 2]));
  });

  it('the blocking write refuses a bad payload in a worker too', async () => {
    const worker = spawnWorker(new URL('./fixtures/ring-bad-payload.ts', import.meta.url), {});
    const message = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    expect(message).toEqual({ name: 'InvalidPayloadError', code: 'ERR_INVALID_PAYLOAD', usedBytes: 0 });
    await exited(worker);
  }, 30_000);

  it('a corrupt length word is a CorruptFrameError naming the position', () => {
    const ring = SharedRing.create({ capacity: 1024 });
    const words = new Int32Array(ring.buffer);
    const first = D.HEADER_LENGTH >> 2;
    for (const bad of [3, 1 << 20, 1024 + 8]) {
      ring.tryWrite(new Uint8Array([1]), 1);
      ring.tryWrite(new Uint8Array([2]), 1);
      const second = first + 4; // the second frame starts at byte 16
      words[second] = bad;
      const error = (() => {
        try {
          ring.drain(() => {});
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(CorruptFrameError);
      expect(error).toMatchObject({ code: 'ERR_CORRUPT_FRAME', position: 16, lengthWord: bad });
      expect((error as Error).message).toMatch(/byte 16/);
      // Reset for the next case: a fresh ring is simpler than repairing this one.
      words.fill(0, first, first + 256);
      Atomics.store(words, D.HEAD_OFFSET >> 2, 0);
      Atomics.store(words, D.READ_OFFSET >> 2, 0);
      Atomics.store(words, D.TAIL_OFFSET >> 2, 0);
      words[D.HEAD_CACHE_OFFSET >> 2] = 0;
    }
    // A claim marker claiming more than the ring has.
    ring.tryWrite(new Uint8Array([1]), 1);
    words[first] = -(1 << 20);
    expect(() => ring.unblock()).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT_FRAME', position: 0 }));
  });

  it('bad frame types, lengths and counts are RangeErrors with ERR_OUT_OF_RANGE', () => {
    const ring = SharedRing.create({ capacity: 1024 });
    for (const bad of [() => ring.tryWrite(new Uint8Array(1), -1), () => ring.tryClaim(1, -4), () => ring.tryEncodeMany(1, 8, 1.5, () => {})]) {
      expect(bad).toThrow(RangeError);
      expect(bad).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    }
  });

  it('misspelled options are an UnknownOptionError naming the valid ones', () => {
    expect(() => SharedRing.create({ capacity: 1024, multiproducer: false } as never)).toThrow(UnknownOptionError);
    expect(() => SharedRing.create({ capacity: 1024, multiproducer: false } as never)).toThrow(
      /unknown option 'multiproducer' \(valid: capacity, multiProducer, waitStrategy, unblockAfterMs, reclaimAfterMs\)/,
    );
    expect(() => SharedRing.create({ capacity: 1024, unblockAfterMs: -1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    const ring = SharedRing.create({ capacity: 1024 });
    expect(() => SharedRing.attach(ring.buffer, { waitstrategy: 1 } as never)).toThrow(expect.objectContaining({ code: 'ERR_UNKNOWN_OPTION' }));
  });
});
