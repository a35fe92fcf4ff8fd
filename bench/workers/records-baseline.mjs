// Hand-rolled baselines for the records suite (plain JS): the same map → filter as the ringflow
// pipeline over postMessage, and a keyed tumbling-window count. Also Piscina's task module.
import { parentPort } from 'node:worker_threads';

const map = (r) => ({ i: r.i, user: r.user, score: r.score * 2, tags: r.tags });
const keep = (r) => r.score > 0.5;

/** Piscina task: one 256-record batch, mapped and filtered, returned (cloned both ways). */
export function batch(records) {
  const out = [];
  for (const r of records) {
    const m = map(r);
    if (keep(m)) out.push(m);
  }
  return out;
}

if (parentPort) {
  const counts = new Map(); // window start → Map(user → count)
  parentPort.on('message', (m) => {
    if (m.kind === 'batch') parentPort.postMessage({ kind: 'batch', records: batch(m.records) });
    else if (m.kind === 'one') {
      const r = map(m.record);
      parentPort.postMessage({ kind: 'one', record: keep(r) ? r : null });
    } else if (m.kind === 'keyed') {
      for (const r of m.records) {
        const window = Math.floor(m.ts / 1000) * 1000;
        let perKey = counts.get(window);
        if (!perKey) counts.set(window, (perKey = new Map()));
        perKey.set(r.user, (perKey.get(r.user) ?? 0) + 1);
      }
      parentPort.postMessage({ kind: 'ack' });
    } else if (m.kind === 'end') {
      const results = [];
      for (const [window, perKey] of counts) for (const [key, value] of perKey) results.push({ key, window, value });
      counts.clear();
      parentPort.postMessage({ kind: 'results', results });
    }
  });
}
