// Piscina baselines for the dataflow suite: the same filter → map as the ringflow pipeline, done
// with one run() per record (cloned) or per transferred batch. Plain JS, loaded by Piscina itself.
import { move } from 'piscina';

/** One record: { uid, ts, vector } (structured clone). Filter vector[0] >= 0, then scale by 2. */
export function perRecord(record) {
  const v = record.vector;
  if (!(v[0] >= 0)) return null;
  for (let i = 0; i < v.length; i++) v[i] *= 2;
  return record;
}

/** A batch: { count, dim, uids: Float64Array, data: Float32Array }; the data is transferred both ways. */
export function batch(b) {
  const { count, dim, data } = b;
  let kept = 0;
  for (let row = 0; row < count; row++) {
    const at = row * dim;
    if (!(data[at] >= 0)) continue;
    for (let i = 0; i < dim; i++) data[at + i] *= 2;
    kept++;
  }
  return move(data); // filtered-out rows are left as they were; the caller knows the filter
}
