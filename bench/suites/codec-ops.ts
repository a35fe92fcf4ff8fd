/**
 * Single-thread cost of the VectorRecord codec, dim 4 and 128, into / out of a SharedArrayBuffer
 * region (as in a ring): `writeVectorRecord` per record, and `VectorReader` read + uid + ts +
 * zero-copy vector summed. Next to them, the flat layout the postMessage batch baseline uses
 * (`uid u64 | ts f64 | f32 × dim`), written and read with plain typed arrays: what the FlatBuffers
 * framing costs per record. No second thread involved.
 */
import { VectorReader, vectorRecordSize, writeVectorRecord } from '../../src/codec/index.js';
import { budget, throughput } from '../lib/measure.js';
import { quotient, type RatioDef, type Suite } from '../lib/suite.js';
import { VECTOR_CYCLE, vectorWorkload } from '../lib/vectors.js';
import { VECTOR_DIMS } from './postmessage-vector.js';

const RECORDS = 4096;

export const codecOps: Suite = {
  name: 'codec-ops',
  title: 'Single-thread cost of VectorRecord encode/decode vs a flat typed-array layout',
  async run(ctx) {
    const b = budget(ctx.quick, { iterations: 100, time: 300, warmupIterations: 20, warmupTime: 100 });
    for (const dim of VECTOR_DIMS) {
      const w = vectorWorkload(dim);
      const size = vectorRecordSize(dim, 'Float32');
      const bytes = new Uint8Array(new SharedArrayBuffer(RECORDS * Math.max(size, w.stride)));
      const reader = new VectorReader(bytes);
      const common = { items: RECORDS, unit: 'rec/s', sync: true, budget: b, detail: { dim, recordBytes: size } };
      const encodeAll = () => {
        for (let i = 0, at = 0; i < RECORDS; i++, at += size) {
          const k = i & (VECTOR_CYCLE - 1);
          writeVectorRecord(bytes, at, w.uids[k]!, w.ts[k]!, w.vectors[k]!, 'Float32');
        }
      };
      let sum = 0;
      ctx.report(await throughput({ ...common, id: `codec${dim}.encode`, label: `dim ${dim}: writeVectorRecord`, fn: encodeAll }));
      encodeAll();
      ctx.report(
        await throughput({
          ...common,
          id: `codec${dim}.decode`,
          label: `dim ${dim}: VectorReader read + uid + ts + vector() summed`,
          fn: () => {
            for (let i = 0, at = 0; i < RECORDS; i++, at += size) {
              reader.read(at);
              sum += Number(reader.uid) + reader.ts;
              const v = reader.vector();
              for (let j = 0; j < v.length; j++) sum += v[j]!;
            }
          },
        }),
      );
      const expected = (RECORDS / VECTOR_CYCLE) * w.cycleSum;
      if (sum % expected !== 0) throw new Error(`codec${dim}.decode: checksum ${sum} is not a multiple of ${expected}`);

      const u64 = new BigUint64Array(bytes.buffer);
      const f64 = new Float64Array(bytes.buffer);
      const f32 = new Float32Array(bytes.buffer);
      const stride = w.stride;
      ctx.report(
        await throughput({
          ...common,
          id: `codec${dim}.flatEncode`,
          label: `dim ${dim}: flat layout, typed-array writes`,
          detail: { dim, recordBytes: stride },
          fn: () => {
            for (let i = 0, at = 0; i < RECORDS; i++, at += stride) {
              const k = i & (VECTOR_CYCLE - 1);
              u64[at >> 3] = w.uids[k]!;
              f64[(at >> 3) + 1] = w.ts[k]!;
              f32.set(w.vectors[k]!, (at >> 2) + 4);
            }
          },
        }),
      );
      let flat = 0;
      ctx.report(
        await throughput({
          ...common,
          id: `codec${dim}.flatDecode`,
          label: `dim ${dim}: flat layout, typed-array reads summed`,
          detail: { dim, recordBytes: stride },
          fn: () => {
            for (let i = 0, at = 0; i < RECORDS; i++, at += stride) {
              flat += Number(u64[at >> 3]!) + f64[(at >> 3) + 1]!;
              const v = (at >> 2) + 4;
              for (let j = 0; j < dim; j++) flat += f32[v + j]!;
            }
          },
        }),
      );
      if (flat % expected !== 0) throw new Error(`codec${dim}.flatDecode: checksum ${flat} is not a multiple of ${expected}`);
    }
  },
  ratios: VECTOR_DIMS.flatMap((dim): RatioDef[] => [
    {
      id: `codec${dim}.encode/flatEncode`,
      label: `dim ${dim}: writeVectorRecord / flat writes (throughput)`,
      compute: (f) => quotient(f.get(`codec${dim}.encode`)?.value, f.get(`codec${dim}.flatEncode`)?.value),
    },
    {
      id: `codec${dim}.decode/flatDecode`,
      label: `dim ${dim}: VectorReader / flat reads (throughput)`,
      compute: (f) => quotient(f.get(`codec${dim}.decode`)?.value, f.get(`codec${dim}.flatDecode`)?.value),
    },
  ]),
};
