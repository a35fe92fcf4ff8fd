/**
 * Consumer of the one-way ring suite: blocks on the ring (spin-then-park), drains frames zero-copy,
 * sums every field of every small record and acknowledges what it consumed after each drain.
 * Exits its loop when the ring is closed and drained.
 */
import { SharedRing } from '../../src/ring/index.js';
import { AckCounter } from '../lib/ack.js';
import { SMALL_BATCH, SMALL_BATCH_FRAME_TYPE, SMALL_FIELDS } from '../lib/records.js';
import { data } from '../lib/worker-side.js';
import { sinkRing } from './ring-sink-loop.js';

const { ring: ringBuffer, ack: ackBuffer } = data<{ ring: SharedArrayBuffer; ack: SharedArrayBuffer }>();
const ring = SharedRing.attach(ringBuffer);
const ack = AckCounter.attach(ackBuffer);
const f64 = new Float64Array(ring.buffer, ring.data.byteOffset, ring.capacity >> 3);

const totals = { records: 0, sum: 0 };

function onFrame(type: number, _data: Uint8Array, offset: number, _length: number): void {
  let at = offset >> 3;
  if (type === SMALL_BATCH_FRAME_TYPE) {
    for (let r = 0; r < SMALL_BATCH; r++, at += SMALL_FIELDS) {
      totals.sum += f64[at]! + f64[at + 1]! + f64[at + 2]! + f64[at + 3]! + f64[at + 4]! + f64[at + 5]! + f64[at + 6]!;
    }
    totals.records += SMALL_BATCH;
  } else {
    totals.sum += f64[at]! + f64[at + 1]! + f64[at + 2]! + f64[at + 3]! + f64[at + 4]! + f64[at + 5]! + f64[at + 6]!;
    totals.records++;
  }
}

sinkRing(ring, ack, totals, onFrame);
