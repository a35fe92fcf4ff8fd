/**
 * Echo service for the round-trip suites: blocks on the request ring (with the wait strategy named
 * in workerData), and for each 8-byte request frame claims an 8-byte frame on the response ring,
 * copies the request's float64 into it and commits. Exits when the request ring is closed.
 */
import { SharedRing } from '../../src/ring/index.js';
import { strategy, type StrategyName } from '../lib/strategies.js';
import { data, ready, sendCtl } from '../lib/worker-side.js';

const cfg = data<{ req: SharedArrayBuffer; resp: SharedArrayBuffer; strategy: StrategyName }>();
const waitStrategy = strategy(cfg.strategy);
const req = SharedRing.attach(cfg.req, { waitStrategy });
const resp = SharedRing.attach(cfg.resp, { waitStrategy });
const reqF64 = new Float64Array(req.buffer, req.data.byteOffset, req.capacity >> 3);
const respF64 = new Float64Array(resp.buffer, resp.data.byteOffset, resp.capacity >> 3);

let echoed = 0;
function echo(type: number, _data: Uint8Array, offset: number, _length: number): void {
  const off = resp.claim(type, 8);
  respF64[off >> 3] = reqF64[offset >> 3]!;
  resp.commit(off);
  echoed++;
}

ready();
while (req.waitReadable()) req.drain(echo);
sendCtl('done', { echoed });
