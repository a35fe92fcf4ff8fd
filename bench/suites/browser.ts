/**
 * Suite — the ring in a browser: headless Chromium (Debian's), a page served with COOP/COEP on
 * 127.0.0.1, 16-byte records page→Web Worker. The page writes them into a SharedRing with
 * encodeManyAsync (one frame per record, parking with Atomics.waitAsync when the ring is full; the
 * page may never block), the worker blocks in waitReadable and checks every record. Baseline, in
 * the same page and run: the same records, one structured-clone postMessage each. Timed in the
 * page (performance.now) from the first write until the worker reports the last record checked;
 * the figure is the median iteration. The other direction, worker→page (the page drains and
 * awaits `readable()`), is reported too. Without Chromium the suite reports nothing (goal: not measured).
 */
import { BrowserRingPage, chromiumAvailable, CHROMIUM_PATH, type TransferResult } from '../lib/browser.js';
import { summarize } from '../lib/stats.js';
import { quotient, type FigureInput, type Suite } from '../lib/suite.js';

async function measure(
  id: string,
  label: string,
  unit: string,
  items: number,
  iterations: number,
  once: () => Promise<TransferResult>,
): Promise<FigureInput> {
  const ms: number[] = [];
  await once(); // warm-up
  for (let i = 0; i < iterations; i++) {
    const r = await once();
    if (r.count !== items || r.errors !== 0) throw new Error(`${id}: worker checked ${r.count} of ${items} records, ${r.errors} wrong: ${JSON.stringify(r.firstBad)}`);
    ms.push(r.ms);
  }
  const d = summarize(ms);
  return {
    id,
    label,
    kind: 'throughput',
    unit,
    value: (items * 1000) / d.p50,
    mean: d.mean,
    p50: d.p50,
    p99: d.p99,
    min: d.min,
    max: d.max,
    samples: d.samples,
    detail: { itemsPerIteration: items, recordBytes: 16, host: 'headless Chromium', perSecondFromBestIteration: (items * 1000) / d.min },
  };
}

export const browser: Suite = {
  name: 'browser',
  title: 'Browser: SharedRing page→Web Worker vs postMessage (headless Chromium)',
  async run(ctx) {
    if (!chromiumAvailable()) {
      ctx.log(`browser: no Chromium at ${CHROMIUM_PATH} (apt-get install -y chromium); skipped`);
      return;
    }
    const page = await BrowserRingPage.open();
    try {
      const iterations = ctx.quick ? 3 : 7;
      const frames = ctx.quick ? 250_000 : 1_000_000;
      const posted = ctx.quick ? 50_000 : 100_000;
      ctx.report(await measure('browser.ring.frames', 'browser SharedRing page→worker, encodeManyAsync, 16 B records', 'frames/s', frames, iterations, () => page.ring(frames)));
      ctx.report(await measure('browser.ring.fromWorker', 'browser SharedRing worker→page, page drains + awaits readable()', 'frames/s', frames, iterations, () => page.ringFromWorker(frames)));
      ctx.report(await measure('browser.postMessage.objects', 'browser postMessage page→worker, one small object per message', 'msg/s', posted, iterations, () => page.postMessage(posted)));
    } finally {
      await page.close();
    }
  },
  ratios: [
    {
      id: 'browser.ring/postMessage',
      label: 'browser ring / postMessage (same page and worker, same run)',
      compute: (f) => quotient(f.get('browser.ring.frames')?.value, f.get('browser.postMessage.objects')?.value),
    },
  ],
  goals: [
    {
      id: 'browser.ring.vsPostMessage',
      label: 'browser ring ≥ 10× postMessage',
      value: (f) => quotient(f.get('browser.ring.frames')?.value, f.get('browser.postMessage.objects')?.value),
      op: '>=',
      target: 10,
      unit: '×',
    },
  ],
};
