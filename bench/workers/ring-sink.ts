/**
 * Consumer of the one-way ring suite: blocks on the ring (spin-then-park), drains frames zero-copy,
 * sums every field of every small record and acknowledges what it consumed after each drain.
 * Exits its loop when the ring is closed and drained.
 */
import { SharedRing } from '../../src/ring/index.js';
import { AckCounter } from '../lib/ack.js';
import { SMALL_BATCH, SMALL_BATCH_FRAME_TYPE, SMALL_FIELDS } from '../lib/records.js';
import { data, ready, sendCtl } from '../lib/worker-side.js';

const { ring: ringBuffer, ack: ackBuffer } = data<{ ring: SharedArrayBuffer; ack: SharedArrayBuffer }>();
const ring = SharedRing.attach(ringBuffer);
const ack = AckCounter.attach(ackBuffer);
const f64 = new Float64Array(ring.buffer, ring.data.byteOffset, ring.capacity >> 3);

let records = 0;
let sum = 0;

function onFrame(type: number, _data: Uint8Array, offset: number, _length: number): void {
  let at = offset >> 3;
  if (type === SMALL_BATCH_FRAME_TYPE) {
    for (let r = 0; r < SMALL_BATCH; r++, at += SMALL_FIELDS) {
      sum += f64[at]! + f64[at + 1]! + f64[at + 2]! + f64[at + 3]! + f64[at + 4]! + f64[at + 5]! + f64[at + 6]!;
    }
    records += SMALL_BATCH;
  } else {
    sum += f64[at]! + f64[at + 1]! + f64[at + 2]! + f64[at + 3]! + f64[at + 4]! + f64[at + 5]! + f64[at + 6]!;
    records++;
  }
}

ready();
let acked = 0;
while (ring.waitReadable()) {
  ring.drain(onFrame);
  if (records !== acked) {
    ack.add(records - acked, sum);
    acked = records;
  }
}
sendCtl('done', { records, sum });
