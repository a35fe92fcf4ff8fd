/**
 * Clicks per user in one-second event-time windows, on 2 workers.
 *
 *   npx tsx examples/clicks-per-user.ts
 *
 * Events arrive out of order (up to 300 ms); the watermark trails by 500 ms, so they all count.
 * A few stragglers arrive seconds late: they go to the side output instead of vanishing.
 */
import { StreamEnvironment } from '../src/stream/index.js';

interface Click {
  user: string;
  ts: number;
  score: number;
}

let seed = 1;
const random = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
const clicks: Click[] = Array.from({ length: 20_000 }, (_, i) => ({ user: `user${i % 5}`, ts: i, score: random() }))
  .map((c) => ({ c, at: c.ts + random() * 300 }))
  .sort((a, b) => a.at - b.at)
  .map(({ c }) => c);
clicks.splice(15_000, 0, { user: 'user0', ts: 100, score: 1 }, { user: 'user1', ts: 200, score: 1 });

const env = new StreamEnvironment({ workers: 2 });
env.onSideOutput((late) => console.log(`late (${late.tag}) from ${late.operator}:`, late.value));

env
  .fromIterable(clicks, { timestamp: (c) => c.ts, outOfOrdernessMs: 500 })
  .filter((c) => c.score > 0.5)
  .keyBy((c) => c.user)
  .window({ tumbling: 1000, on: 'eventTime' })
  .aggregate({
    createAccumulator: () => ({ clicks: 0, score: 0 }),
    add: (acc: { clicks: number; score: number }, c: Click) => ({ clicks: acc.clicks + 1, score: acc.score + c.score }),
    getResult: (acc: { clicks: number; score: number }) => ({ clicks: acc.clicks, meanScore: +(acc.score / acc.clicks).toFixed(3) }),
  })
  .sink((w) => {
    if (w.window.start % 5000 === 0) console.log(`${w.key} [${w.window.start}, ${w.window.end}):`, w.value);
  });

console.log(env.explain(), '\n');
const result = await env.execute();
console.log('\nrecords per stage:', result.stages, '— side outputs:', result.sideOutputs);
