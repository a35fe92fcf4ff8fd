import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch } from 'puppeteer-core';
import { describe, expect, it } from 'vitest';
import { startMetricsServer } from '../src/metrics/index.js';
import { STOP, StreamEnvironment } from '../src/stream/index.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH, chromiumAvailable } from '../bench/lib/browser.js';

/**
 * The metrics server's live page in headless Chromium while a pipeline runs: it draws one box per
 * vertex and the numbers in them move. The screenshot is kept in test/artifacts/.
 */
const available = chromiumAvailable();
if (!available) console.warn(`live-page: skipped, no Chromium at ${CHROMIUM_PATH} (apt-get install -y chromium)`);
const artifacts = fileURLToPath(new URL('./artifacts/', import.meta.url));

describe.runIf(available)('live pipeline page', () => {
  it('shows the pipeline graph with rates that move while it runs', async () => {
    const env = new StreamEnvironment({ workers: 2 });
    let i = 0;
    let stop = false;
    env
      .fromSource(async () => {
        if (stop) return STOP;
        if (i % 500 === 0) await new Promise((r) => setTimeout(r, 5));
        return { n: i++ };
      }, { name: 'numbers' })
      .map((r: { n: number }) => ({ n: r.n + 1 }), { name: 'inc' })
      .filter((r: { n: number }) => r.n % 3 !== 0, { name: 'drop-thirds' })
      .sink(() => {}, { name: 'count' });
    const server = await startMetricsServer({ env, port: 0, liveIntervalMs: 200 });
    const job = env.start();
    const profile = mkdtempSync(join(tmpdir(), 'ringflow-live-'));
    const browser = await launch({ executablePath: CHROMIUM_PATH, headless: true, pipe: true, args: CHROMIUM_ARGS, userDataDir: profile, timeout: 30_000 });
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 1000, height: 400 });
      await page.goto(`http://${server.address}/`, { waitUntil: 'load', timeout: 30_000 });
      await page.waitForSelector('[data-vertex]', { timeout: 20_000 });
      const boxes = await page.$$eval('.box .name', (els) => els.map((e) => e.textContent));
      expect(boxes).toEqual(['numbers', 'inc→drop-thirds ×2', 'count']);
      const sinkCount = () => page.$eval('.box.sink .rate', (e) => Number((e.textContent ?? '').split(' ')[0]!.replace(/k$/, 'e3').replace(/M$/, 'e6')));
      // Functions evaluated in the page, written as strings: the test's TypeScript has no DOM types.
      await page.waitForFunction(`/\\/s/.test(document.querySelector('.box.sink .rate')?.textContent ?? '')`, { timeout: 20_000 });
      const first = await sinkCount();
      await page.waitForFunction(
        `Number((document.querySelector('.box.sink .rate')?.textContent ?? '').split(' ')[0].replace(/k$/, 'e3').replace(/M$/, 'e6')) > ${first}`,
        { timeout: 20_000 },
      );
      expect(await sinkCount()).toBeGreaterThan(first);
      expect(await page.$eval('#status', (e) => e.textContent)).toMatch(/^running · failures 0/);
      mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: join(artifacts, 'live-page.png') });
    } finally {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
      stop = true;
      await job.done;
      await server.close();
      await env.close();
    }
  }, 90_000);
});
