/**
 * The loop the ring sinks share (ring-sink.ts, vector-sink.ts); not a worker of its own. Reports
 * ready, then blocks on the ring (spin-then-park), drains it with `onFrame` (which adds to
 * `totals`) and after each drain acknowledges the records consumed since the last ack, with the
 * running sum. Once the ring is closed and drained it reports done with the totals.
 */
import type { FrameHandler, SharedRing } from '../../src/ring/index.js';
import type { AckCounter } from '../lib/ack.js';
import { ready, sendCtl } from '../lib/worker-side.js';

export interface SinkTotals {
  records: number;
  sum: number;
}

export function sinkRing(ring: SharedRing, ack: AckCounter, totals: SinkTotals, onFrame: FrameHandler): void {
  ready();
  let acked = 0;
  while (ring.waitReadable()) {
    ring.drain(onFrame);
    if (totals.records !== acked) {
      ack.add(totals.records - acked, totals.sum);
      acked = totals.records;
    }
  }
  sendCtl('done', { records: totals.records, sum: totals.sum });
}
