/**
 * Consumer of the postMessage one-way baselines: receives small records as structured-clone
 * objects, or as transferred ArrayBuffers of SMALL_BATCH records; sums every field like the ring
 * consumer does and acknowledges through the same shared counter.
 */
import { AckCounter } from '../lib/ack.js';
import { SMALL_FIELDS, type SmallRecord } from '../lib/records.js';
import { data, port, ready } from '../lib/worker-side.js';

const ack = AckCounter.attach(data<{ ack: SharedArrayBuffer }>().ack);
let sum = 0;

port().on('message', (m: unknown) => {
  if (m instanceof ArrayBuffer) {
    const f64 = new Float64Array(m);
    const n = f64.length / SMALL_FIELDS;
    for (let r = 0, at = 0; r < n; r++, at += SMALL_FIELDS) {
      sum += f64[at]! + f64[at + 1]! + f64[at + 2]! + f64[at + 3]! + f64[at + 4]! + f64[at + 5]! + f64[at + 6]!;
    }
    ack.add(n, sum);
  } else if (m !== null && typeof m === 'object' && 'seq' in m) {
    const r = m as SmallRecord;
    sum += r.seq + r.ts + r.a + r.b + r.c + r.d + r.e;
    ack.add(1, sum);
  }
});
ready();
