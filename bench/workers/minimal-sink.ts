/** Consumer of the minimal reference ring (see lib/minimal-ring.ts): sums every field, acknowledges. */
import { AckCounter } from '../lib/ack.js';
import { MinimalRing } from '../lib/minimal-ring.js';
import { data, ready } from '../lib/worker-side.js';

const cfg = data<{ ring: SharedArrayBuffer; ack: SharedArrayBuffer }>();
const ring = MinimalRing.attach(cfg.ring);
const ack = AckCounter.attach(cfg.ack);
const f64 = ring.f64;
let sum = 0;
const onSlot = (at: number) => {
  sum += f64[at]! + f64[at + 1]! + f64[at + 2]! + f64[at + 3]! + f64[at + 4]! + f64[at + 5]! + f64[at + 6]!;
};
ready();
for (;;) {
  ring.waitReadable();
  const n = ring.drain(onSlot);
  ack.add(n, sum);
}
