/**
 * A small app for `ringflow run`: words of generated sentences counted per word in one-second
 * windows. Run it with `npx ringflow run examples/word-count.ts --metrics 9464` and open
 * http://127.0.0.1:9464/ for the live page. Set WORDS to change how many sentences it makes.
 */
import type { StreamEnvironment } from '../src/stream/index.js';

const SENTENCES = Number(process.env.WORDS ?? 200_000);
const vocabulary = ['ring', 'buffer', 'atomics', 'worker', 'stream', 'window', 'record', 'batch', 'frame', 'sink'];

function* sentences() {
  let seed = 7;
  for (let i = 0; i < SENTENCES; i++) {
    const words: string[] = [];
    for (let w = 0; w < 6; w++) words.push(vocabulary[(seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % vocabulary.length]!);
    yield { id: i, ts: i, text: words.join(' ') };
  }
}

export default (env: StreamEnvironment) => {
  const totals = new Map<string, number>();
  env
    .fromIterable(sentences(), { name: 'sentences', timestamp: (s) => s.ts })
    .flatMap((s: { text: string }) => s.text.split(' ').map((word) => ({ word })), { name: 'split' })
    .keyBy((w: { word: string }) => w.word)
    .window({ tumbling: 1000, on: 'eventTime' })
    .aggregate({ createAccumulator: () => 0, add: (n: number) => n + 1 }, { name: 'count' })
    .sink((r: { key: unknown; value: number }) => void totals.set(String(r.key), (totals.get(String(r.key)) ?? 0) + r.value), { name: 'totals' });
};
