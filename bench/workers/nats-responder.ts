/**
 * A child process for the jetstream bench: exposes `add` two ways on one NATS server — as a
 * ringflow service (registerService … expose) and as a bare NATS responder on 'bench.bare.add'
 * (JSON [a, b] → JSON a+b). argv: serverUrl. Prints 'ready' once both answer; SIGTERM stops it.
 */
import { connect } from '@nats-io/transport-node';
import { ServiceManager } from '../../src/service/index.js';

const [servers] = process.argv.slice(2) as [string];

const manager = new ServiceManager();
manager.registerService('benchcalc', { add: (a: number, b: number) => a + b }, { expose: { servers } });
await manager.start();

const nc = await connect({ servers });
const decoder = new TextDecoder();
const encoder = new TextEncoder();
nc.subscribe('bench.bare.add', {
  callback: (_error, msg) => {
    const [a, b] = JSON.parse(decoder.decode(msg.data)) as [number, number];
    msg.respond(encoder.encode(JSON.stringify(a + b)));
  },
});
await nc.flush();
console.log('ready');
process.on('SIGTERM', () => {
  void Promise.all([manager.stop(), nc.drain()]).then(() => process.exit(0));
});
