// Codec choice (issue 9): encode+decode µs per object { i, user, score, tags }, one at a time and in
// 256-batches, for v8.serialize, the hand-written v8-format encoder and msgpackr; and for a
// service-sized argument list; and a batch of JSON lines, msgpackr against values/ascii-strings.ts.
// npx tsx bench/_scratch/codec-values.ts
// Quick codec choice: encode+decode µs per object, one at a time and in 256-batches.
import v8 from 'node:v8';
import { Packr } from 'msgpackr/pack';
import { Unpackr } from 'msgpackr/unpack';
import { PayloadEncoder, PayloadDecoder } from '../../src/codec/values/index.js';

const N = 256;
const make = (i: number) => ({ i, user: `user-${i % 97}`, score: (i % 1000) / 1000, tags: ['a', i % 2 ? 'odd' : 'even'] });
const batch = Array.from({ length: N }, (_, i) => make(i));
const args = ['k', 42];

function time(name: string, rounds: number, perRound: number, fn: () => void) {
  for (let i = 0; i < rounds / 10; i++) fn();
  const best: number[] = [];
  for (let rep = 0; rep < 5; rep++) {
    const t = performance.now();
    for (let i = 0; i < rounds; i++) fn();
    best.push(((performance.now() - t) * 1000) / (rounds * perRound));
  }
  best.sort((a, b) => a - b);
  console.log(`${name.padEnd(52)} ${best[0]!.toFixed(3)} µs (median ${best[2]!.toFixed(3)})`);
}

let sink: unknown;
time('v8 one at a time', 400, N, () => { for (const o of batch) sink = v8.deserialize(v8.serialize(o)); });
time('v8 256-batch', 400, N, () => { sink = v8.deserialize(v8.serialize(batch)); });
const enc = new PayloadEncoder(); const dec = new PayloadDecoder();
const buf = new Uint8Array(1 << 16);
time('hand-written v8-format one at a time', 400, N, () => { for (const o of batch) { const n = enc.prepare(o); enc.writeInto(buf, 0); sink = dec.decode(buf, 0, n); } });
for (const sc of [false, true]) {
  const p = new Packr({ structures: [], structuredClone: sc, moreTypes: true });
  const u = new Unpackr({ structures: p.structures, structuredClone: sc, moreTypes: true });
  time(`msgpackr shared structures, one at a time, clone=${sc}`, 400, N, () => { for (const o of batch) sink = u.unpack(p.pack(o)); });
  // one at a time into one buffer, then the bytes copied once and decoded one by one
  const values = new Uint8Array(1 << 16); const ends = new Uint32Array(N);
  time(`msgpackr shared, per-record into batch + copy, clone=${sc}`, 400, N, () => {
    let at = 0;
    for (let i = 0; i < N; i++) { const b = p.pack(batch[i]); values.set(b, at); at += b.length; ends[i] = at; }
    const copy = values.slice(0, at); let s = 0;
    for (let i = 0; i < N; i++) { sink = u.unpack(copy.subarray(s, ends[i])); s = ends[i]!; }
  });
  const p2 = new Packr({ structuredClone: sc, moreTypes: true }); const u2 = new Unpackr({ structuredClone: sc, moreTypes: true });
  time(`msgpackr whole array, inline structures, clone=${sc}`, 400, N, () => { sink = u2.unpack(p2.pack(batch)); });
  time(`msgpackr one at a time, inline structures, clone=${sc}`, 400, N, () => { for (const o of batch) sink = u2.unpack(p2.pack(o)); });
}
console.log('-- service-sized argument list [\'k\', 42]');
time('hand-written v8-format', 20000, 1, () => { const n = enc.prepare(args); enc.writeInto(buf, 0); sink = dec.decode(buf, 0, n); });
const p = new Packr({ structures: [], structuredClone: true, moreTypes: true }); const u = new Unpackr({ structures: p.structures, structuredClone: true, moreTypes: true });
time('msgpackr clone=true', 20000, 1, () => { const b = p.pack(args); buf.set(b, 0); sink = u.unpack(buf.subarray(0, b.length)); });
const p3 = new Packr({ structures: [], moreTypes: true }); const u3 = new Unpackr({ structures: p3.structures, moreTypes: true });
time('msgpackr clone=false', 20000, 1, () => { const b = p3.pack(args); buf.set(b, 0); sink = u3.unpack(buf.subarray(0, b.length)); });
console.log('-- a batch of 4096 JSON lines (~55 ASCII bytes each), encode + decode per line');
const { packValue, unpackValue } = await import('../../src/codec/values/structured.js');
const { packAsciiStrings, unpackAsciiStrings } = await import('../../src/codec/values/ascii-strings.js');
const lines = Array.from({ length: 4096 }, (_, i) => JSON.stringify({ id: i, user: `u${(i * 7919) % 100000}`, amount: 1 + ((i * 31) % 1000), ts: 1796475900000 + i * 3 }));
time('msgpackr (structured codec), whole array', 40, lines.length, () => { sink = unpackValue(packValue(lines, 'x').slice()); });
time('ASCII text + ends (values/ascii-strings.ts)', 40, lines.length, () => { sink = unpackAsciiStrings(packAsciiStrings(lines)!.slice()); });
console.log('-- the codec on a 512-record batch of { i, user, score, tags }, encode + decode per record');
const { packValues } = await import('../../src/codec/values/structured.js');
const objects = Array.from({ length: 512 }, (_, i) => make(i));
// Alternated three times: whichever runs first after the string tests above pays for re-optimising msgpackr.
for (let round = 0; round < 3; round++) {
  time('packValue (reference tracking)', 100, objects.length, () => { sink = unpackValue(packValue(objects, 'x').slice()); });
  time('packValues (no tracking: each object met once)', 100, objects.length, () => { sink = unpackValue(packValues(objects, 'x').slice()); });
}
