/**
 * Echo for the postMessage round-trip baselines: echoes every non-control message it receives on
 * `workerData.port` (a MessagePort, worker↔worker) or, without one, on parentPort (main↔worker).
 */
import type { MessagePort } from 'node:worker_threads';
import { data, port, ready } from '../lib/worker-side.js';

const channel: MessagePort = data<{ port?: MessagePort }>().port ?? port();
channel.on('message', (m: unknown) => {
  if (m !== null && typeof m === 'object' && 'ctl' in m) return;
  channel.postMessage(m);
});
ready();
