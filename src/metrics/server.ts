import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RunningJob, StreamEnvironment } from '../stream/index.js';
import { createRegistry } from './registry.js';

export interface MetricsServerOptions {
  env: StreamEnvironment;
  /** 0 picks a free port. */
  port: number;
  /** Default 127.0.0.1: metrics stay on loopback unless asked otherwise. */
  host?: string;
  /** How often the live page gets a snapshot (ms). Default 1000. */
  liveIntervalMs?: number;
  /** Also export prom-client's default process metrics (GC, handles, heap spaces …). Default false. */
  processMetrics?: boolean;
}

export interface MetricsServer {
  /** host:port the server listens on. */
  readonly address: string;
  readonly port: number;
  /** Kept for the CLI: the job the page describes is the environment's current one. */
  attach(job: RunningJob): void;
  close(): Promise<void>;
}

/** Serves /metrics (Prometheus text), / (the live page) and /events (its snapshots, as SSE). */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { env } = options;
  const host = options.host ?? '127.0.0.1';
  const registry = createRegistry(() => env.metrics(), { defaultMetrics: options.processMetrics === true });
  const interval = options.liveIntervalMs ?? 1000;
  const streams = new Set<ServerResponse>();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET') return send(res, 405, 'text/plain', 'only GET\n');
    if (url.pathname === '/metrics') return send(res, 200, registry.contentType, await registry.metrics());
    if (url.pathname === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      res.write(`event: plan\ndata: ${JSON.stringify(env.planGraph())}\n\n`);
      streams.add(res);
      req.on('close', () => streams.delete(res));
      return;
    }
    if (url.pathname === '/') {
      const { livePage } = await import('./live-page.js');
      return send(res, 200, 'text/html; charset=utf-8', livePage());
    }
    send(res, 404, 'text/plain', 'not found\n');
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((error: Error) => send(res, 500, 'text/plain', `${error.message}\n`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const tick = setInterval(() => {
    if (streams.size === 0) return;
    const data = `event: snapshot\ndata: ${JSON.stringify({ at: Date.now(), ...env.metrics() })}\n\n`;
    for (const res of streams) res.write(data);
  }, interval);
  tick.unref();
  const port = (server.address() as AddressInfo).port;
  return {
    address: `${host}:${port}`,
    port,
    attach: () => {},
    close: async () => {
      clearInterval(tick);
      registry.close();
      for (const res of streams) res.end();
      streams.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
