/**
 * Connecting to NATS, shared by the JetStream connectors and the remote services: a bounded first
 * connect (a server that is down at start is a coded error after a few tries, never a hang), then
 * reconnects for as long as the process runs (a restarted server is picked up again).
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { InvalidArgumentError, RingflowError } from '../errors.js';

export type { NatsConnection } from '@nats-io/transport-node';

/** No NATS server answered at `servers` within the connect budget. */
export class NatsConnectionError extends RingflowError {
  readonly servers: string[];
  constructor(servers: string[], attempts: number, cause: unknown) {
    super('ERR_NATS_CONNECT', `cannot connect to NATS at ${servers.join(', ')} (${attempts} attempts): ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.servers = servers;
  }
}

export interface NatsConnectOptions {
  /** Shown in the server's connection list. */
  name?: string;
  /** Total time the first connect may take, over its retries (ms). Default 5000. */
  connectTimeoutMs?: number;
}

/** `servers` as a list of URLs, checked. */
export function serverList(servers: unknown, what: string): string[] {
  const list = typeof servers === 'string' ? servers.split(',').map((s) => s.trim()) : servers;
  if (!Array.isArray(list) || list.length === 0 || !list.every((s) => typeof s === 'string' && s.length > 0)) {
    throw new InvalidArgumentError(`${what}: servers must be a URL such as 'nats://127.0.0.1:4222' or a non-empty list of them`);
  }
  return list as string[];
}

export async function connectNats(servers: string[], options: NatsConnectOptions = {}): Promise<NatsConnection> {
  const budget = options.connectTimeoutMs ?? 5000;
  const until = Date.now() + budget;
  let attempts = 0;
  let last: unknown;
  for (;;) {
    attempts++;
    try {
      return await connect({
        servers,
        name: options.name,
        timeout: Math.max(250, Math.min(2000, until - Date.now())),
        // Once connected, a lost server is retried for as long as the process runs.
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        pingInterval: 10_000,
        // nats.js otherwise builds two Error objects (stack traces) per request up front, in case
        // it fails: a JetStream publish is a request, so that was most of a publish's cost. Our
        // connectors wrap the errors they report in coded ones of their own anyway.
        noAsyncTraces: true,
      });
    } catch (error) {
      last = error;
    }
    const wait = Math.min(250 * attempts, until - Date.now());
    if (wait <= 0) throw new NatsConnectionError(servers, attempts, last);
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}
