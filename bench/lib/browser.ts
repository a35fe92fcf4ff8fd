/**
 * Runs the browser ring bench (bench/browser/) in headless Chromium: bundles the page and Web
 * Worker scripts with esbuild for the browser, serves them on 127.0.0.1 with the COOP/COEP
 * headers that make the page cross-origin isolated (SharedArrayBuffer needs it), and drives the
 * page with puppeteer-core. Chromium is Debian's (`apt-get install chromium`), never downloaded.
 * Used by test/browser-ring.test.ts (correctness) and bench/suites/browser.ts (rates).
 */
import { build } from 'esbuild';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, type Browser, type Page } from 'puppeteer-core';

/** Where Chromium is looked for; RINGFLOW_CHROMIUM overrides. */
export const CHROMIUM_PATH = process.env.RINGFLOW_CHROMIUM ?? '/usr/bin/chromium';

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM_PATH);
}

/** bench/browser/ in the source tree, from bench/lib (tsx) or dist/bench/lib (a build). */
const BROWSER_DIR = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../browser/' : '../../../bench/browser/', import.meta.url));

export const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

const PAGE_HTML = '<!doctype html><meta charset="utf-8"><title>ringflow browser ring</title><script type="module" src="/ring-page.js"></script>';

export interface ThreadFacts {
  runtime: string;
  isMainThread: boolean;
  atomicsWaitAllowed: boolean;
  sharedMemoryAvailable: boolean;
  crossOriginIsolated: boolean;
  /** What a blocking SharedRing.read did: 'allowed', or the error code it threw. */
  blockingRead: string;
}

export interface TransferResult {
  /** Records the worker received and checked. */
  count: number;
  /** Records whose content or position was wrong. */
  errors: number;
  firstBad: unknown;
  /** From the first write to the worker's report that it checked the last record. */
  ms: number;
  /** Records per second. */
  rate: number;
}

/** A served page with its worker, in a Chromium of its own (fresh profile), until `close()`. */
export class BrowserRingPage {
  /** What the page and the worker printed or threw (for failure messages). */
  readonly log: string[] = [];

  private constructor(
    private readonly server: Server,
    private readonly browser: Browser,
    private readonly page: Page,
    private readonly profile: string,
  ) {}

  static async open(): Promise<BrowserRingPage> {
    const bundle = await build({
      entryPoints: { 'ring-page': join(BROWSER_DIR, 'ring-page.mjs'), 'ring-worker': join(BROWSER_DIR, 'ring-worker.mjs') },
      bundle: true,
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      outdir: '/served',
      write: false,
      logLevel: 'silent',
    });
    const files = new Map(bundle.outputFiles.map((f) => [f.path.slice('/served'.length), f.text]));
    const server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
      if (path === '/favicon.ico') {
        res.writeHead(204, ISOLATION_HEADERS).end();
        return;
      }
      const body = path === '/' ? PAGE_HTML : files.get(path);
      if (body === undefined) {
        res.writeHead(404, ISOLATION_HEADERS).end();
        return;
      }
      const type = path === '/' ? 'text/html; charset=utf-8' : 'text/javascript; charset=utf-8';
      res.writeHead(200, { ...ISOLATION_HEADERS, 'Content-Type': type }).end(body);
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
    const profile = mkdtempSync(join(tmpdir(), 'ringflow-chromium-'));
    let browser: Browser | undefined;
    try {
      browser = await launch({ executablePath: CHROMIUM_PATH, headless: true, pipe: true, args: CHROMIUM_ARGS, userDataDir: profile, timeout: 30_000 });
      const page = await browser.newPage();
      const opened = new BrowserRingPage(server, browser, page, profile);
      page.on('console', (m) => opened.log.push(`console.${m.type()}: ${m.text()}`));
      page.on('pageerror', (e) => opened.log.push(`pageerror: ${String(e)}`));
      page.on('requestfailed', (r) => opened.log.push(`requestfailed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
      const { port } = server.address() as AddressInfo;
      await page.goto(`http://127.0.0.1:${port}/`, { waitUntil: 'load', timeout: 30_000 });
      await page.waitForFunction('globalThis.ringflowBench !== undefined', { timeout: 30_000 });
      return opened;
    } catch (error) {
      await browser?.close().catch(() => {});
      server.close();
      rmSync(profile, { recursive: true, force: true });
      throw error;
    }
  }

  /** The platform facts and blocking-read behaviour of the page and of its worker. */
  facts(): Promise<{ page: ThreadFacts; worker: ThreadFacts }> {
    return this.page.evaluate(() => (globalThis as any).ringflowBench.facts());
  }

  /** Moves `n` records page→worker through a SharedRing. */
  ring(n: number): Promise<TransferResult> {
    return this.page.evaluate((count) => (globalThis as any).ringflowBench.ring(count), n);
  }

  /** Moves `n` records worker→page through a SharedRing (the page awaits, never blocks). */
  ringFromWorker(n: number): Promise<TransferResult> {
    return this.page.evaluate((count) => (globalThis as any).ringflowBench.ringFromWorker(count), n);
  }

  /** Moves `n` of the same records page→worker with one postMessage each. */
  postMessage(n: number): Promise<TransferResult> {
    return this.page.evaluate((count) => (globalThis as any).ringflowBench.postMessage(count), n);
  }

  async close(): Promise<void> {
    await this.browser.close().catch(() => {});
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.profile, { recursive: true, force: true });
  }
}
