import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserRingPage, chromiumAvailable, CHROMIUM_PATH } from '../bench/lib/browser.js';

/**
 * The ring in a browser: a page served with COOP/COEP on 127.0.0.1, in Debian's headless Chromium,
 * writes 1 M records into a SharedRing that a Web Worker reads and checks one by one; then the same
 * records go one postMessage each. Correctness only here; the rates' ratio is a goal of
 * bench/suites/browser.ts. Without Chromium (`apt-get install chromium`; .ci/run installs it)
 * the suite is skipped with a message.
 */
const FRAMES = 1_000_000;
/** The baseline is slower by one to two orders of magnitude; a tenth of the records keeps the test short. */
const POSTED = 100_000;

const available = chromiumAvailable();
if (!available) console.warn(`browser-ring: skipped, no Chromium at ${CHROMIUM_PATH} (apt-get install -y chromium, or set RINGFLOW_CHROMIUM)`);

describe.runIf(available)('SharedRing in headless Chromium (page ↔ Web Worker)', () => {
  let page: BrowserRingPage;
  beforeAll(async () => {
    page = await BrowserRingPage.open();
  }, 60_000);
  afterAll(async () => {
    await page?.close();
  }, 30_000);

  it('is cross-origin isolated; the page is the main thread and may not block, the worker may', async () => {
    const facts = await page.facts();
    expect(facts.page).toEqual({
      runtime: 'browser',
      isMainThread: true,
      atomicsWaitAllowed: false,
      sharedMemoryAvailable: true,
      crossOriginIsolated: true,
      blockingRead: 'ERR_BLOCKING_ON_MAIN_THREAD',
    });
    // The worker's blocking read of an empty ring parks until its 0 ms timeout.
    expect(facts.worker).toEqual({ ...facts.page, isMainThread: false, atomicsWaitAllowed: true, blockingRead: 'waited' });
  }, 30_000);

  it(`moves ${FRAMES} frames page→worker through a SharedRing, each checked in order`, async () => {
    const ring = await page.ring(FRAMES);
    expect({ count: ring.count, errors: ring.errors, firstBad: ring.firstBad }, page.log.join('\n')).toEqual({ count: FRAMES, errors: 0, firstBad: null });
    const posted = await page.postMessage(POSTED);
    expect({ count: posted.count, errors: posted.errors }).toEqual({ count: POSTED, errors: 0 });
    const ratio = ring.rate / posted.rate;
    console.log(
      `browser ring: ${(ring.rate / 1e6).toFixed(2)} M frames/s (${FRAMES} in ${ring.ms.toFixed(0)} ms); ` +
        `postMessage: ${(posted.rate / 1e6).toFixed(3)} M msg/s (${POSTED} in ${posted.ms.toFixed(0)} ms); ring/postMessage ${ratio.toFixed(1)}×`,
    );
  }, 120_000);

  it(`moves ${FRAMES} frames worker→page, the page awaiting (never blocking) and checking each`, async () => {
    const ring = await page.ringFromWorker(FRAMES);
    expect({ count: ring.count, errors: ring.errors, firstBad: ring.firstBad }, page.log.join('\n')).toEqual({ count: FRAMES, errors: 0, firstBad: null });
    console.log(`browser ring worker→page: ${(ring.rate / 1e6).toFixed(2)} M frames/s (${FRAMES} in ${ring.ms.toFixed(0)} ms)`);
  }, 60_000);
});
