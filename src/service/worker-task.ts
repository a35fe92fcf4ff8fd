import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import type { OpRef } from '../pool/op.js';
import { WorkerPool } from '../pool/worker-pool.js';
import { workerModule } from '../pool/worker-files.js';
import { BaseServiceTask, type TaskRuntime } from './base-task.js';
import { DownReason } from './caller.js';
import { ServiceUnavailableError } from './errors.js';
import { C_RESTARTS, I_EPOCH, instanceBase, type HostControlMessage, type HostEventMessage, type HostTaskData, type ServiceClientHandle } from './protocol.js';

const HOST_URL = workerModule('service-host.mjs', new URL(`../../workers/service-host${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));

interface Slot {
  /** Incremented at each launch; events of an older launch are ignored. */
  launch: number;
  port: MessagePort | null;
  run: Promise<unknown> | null;
  ready: boolean;
  onReady: { resolve: () => void; reject: (error: unknown) => void } | null;
  acks: Map<number, () => void>;
  client: ServiceClientHandle | null;
}

/**
 * A service whose instances live in pool workers, one thread each, as long-lived tasks on a
 * WorkerPool of its own (sized to `instances`; Piscina cannot resize, and a pool per service lets
 * services be registered after start). Each instance serves its own request ring
 * (workers/service-host.ts). A crash — the task rejects because the worker exited or threw —
 * bumps the instance's epoch, tells every caller thread (INSTANCE_DOWN frames: their in-flight
 * calls to it fail with ServiceUnavailableError) and runs the task again, up to `maxRestarts`
 * times in all; after that the service is `failed` and calls fail fast.
 */
export class WorkerServiceTask extends BaseServiceTask {
  private runtime: TaskRuntime | null = null;
  private pool: WorkerPool | null = null;
  private slots: Slot[] = [];
  private stopping = false;
  private seq = 0;

  async setup(runtime: TaskRuntime): Promise<void> {
    this.runtime = runtime;
    this.setState('starting');
    this.slots = [];
    for (let i = 0; i < this.options.instances; i++) {
      this.slots.push({ launch: 0, port: null, run: null, ready: false, onReady: null, acks: new Map(), client: await runtime.newClient() });
    }
  }

  async start(): Promise<void> {
    this.pool = new WorkerPool({ threads: this.options.instances });
    const ready = this.slots.map((_, i) => this.launch(i));
    const results = await Promise.allSettled(ready);
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure !== undefined) {
      this.fail();
      throw new ServiceUnavailableError(this.name, `it failed to start: ${(failure.reason as Error)?.message ?? String(failure.reason)}`, {
        cause: failure.reason,
      });
    }
    if (this.state === 'starting') this.setState('running');
  }

  /** Starts instance `i` on the pool; resolves when it reports ready, rejects if it fails first. */
  private launch(i: number): Promise<void> {
    const slot = this.slots[i]!;
    const launch = ++slot.launch;
    const { port1, port2 } = new MessageChannel();
    slot.port = port1;
    slot.ready = false;
    const ready = new Promise<void>((resolve, reject) => (slot.onReady = { resolve, reject }));
    port1.on('message', (message: HostEventMessage) => {
      if (slot.launch !== launch) return;
      if (message.type === 'ready') {
        slot.ready = true;
        this.methodNames = message.methods;
        slot.onReady?.resolve();
        slot.onReady = null;
        if (this.state === 'restarting' && this.slots.every((s) => s.ready)) this.setState('running');
      } else if (message.type === 'ack') {
        slot.acks.get(message.seq)?.();
        slot.acks.delete(message.seq);
      }
    });
    port1.unref();
    const target = this.target as OpRef;
    const data: HostTaskData = {
      name: this.name,
      serviceId: this.id,
      instance: i,
      epoch: Atomics.load(this.words, instanceBase(i) + I_EPOCH),
      module: target.module,
      export: target.export,
      options: this.options.options,
      ring: this.rings[i]!.buffer,
      control: this.control,
      replyRings: this.runtime!.replyRings(),
      port: port2,
      client: slot.client!,
      spinMicros: this.options.spinMicros,
    };
    const run = this.pool!.run({ module: HOST_URL, export: 'runServiceHost', data }, { transferList: [port2] as never });
    slot.run = run;
    run.then(
      () => this.onExit(i, launch, null),
      (error: unknown) => this.onExit(i, launch, error ?? new Error('the service worker failed')),
    );
    return ready;
  }

  private onExit(i: number, launch: number, error: unknown): void {
    const slot = this.slots[i]!;
    if (slot.launch !== launch) return;
    slot.port?.close();
    slot.port = null;
    for (const ack of slot.acks.values()) ack(); // a restarted host gets every reply ring at launch
    slot.acks.clear();
    const wasReady = slot.ready;
    slot.ready = false;
    if (!wasReady) {
      // It failed during setup (module, export, constructor): deterministic, so no restart.
      slot.onReady?.reject(error ?? new Error('the service host ended before it was ready'));
      slot.onReady = null;
      this.fail();
      return;
    }
    if (this.stopping || error === null) return; // a normal end: the ring was closed
    const runtime = this.runtime!;
    const oldEpoch = Atomics.add(this.words, instanceBase(i) + I_EPOCH, 1);
    runtime.instanceDown(this.id, i, oldEpoch, DownReason.crashed);
    const restarts = Atomics.add(this.words, C_RESTARTS, 1) + 1;
    if (restarts > this.options.maxRestarts) {
      Atomics.sub(this.words, C_RESTARTS, 1);
      this.fail();
      return;
    }
    this.setState('restarting');
    this.launch(i).catch(() => {
      /* fail() has run */
    });
  }

  /** For good: state failed, every caller told, the other instances ended. */
  private fail(): void {
    if (this.state === 'failed') return;
    this.setState('failed');
    this.runtime?.instanceDown(this.id, -1, 0, DownReason.failed);
    for (const ring of this.rings) ring.close();
    this.wakeHosts();
  }

  async addReplyRing(id: number, buffer: SharedArrayBuffer, bell: SharedArrayBuffer): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const slot of this.slots) {
      if (slot.port === null) continue;
      const seq = ++this.seq;
      waits.push(new Promise<void>((resolve) => slot.acks.set(seq, resolve)));
      const message: HostControlMessage = { type: 'addReplyRing', seq, id, buffer, bell };
      slot.port.postMessage(message);
    }
    this.signalControl(); // a host turns its event loop to read its port
    await Promise.all(waits);
  }

  async removeReplyRing(id: number): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const slot of this.slots) {
      if (slot.port === null) continue;
      const seq = ++this.seq;
      waits.push(new Promise<void>((resolve) => slot.acks.set(seq, resolve)));
      const message: HostControlMessage = { type: 'removeReplyRing', seq, id };
      slot.port.postMessage(message);
    }
    this.signalControl();
    await Promise.all(waits);
  }

  async stop(graceMs: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.state !== 'failed') this.setState('stopping');
    for (const ring of this.rings) ring.close();
    this.wakeHosts();
    const runs = this.slots.map((slot) => slot.run?.catch(() => undefined));
    const all = Promise.all(runs);
    const graceful = await Promise.race([all.then(() => true), sleep(graceMs, false, { ref: false })]);
    if (!graceful) await this.pool?.close(); // ends the hosts that did not finish in time
    if (this.state !== 'failed') this.setState('stopped');
  }

  async cleanup(): Promise<void> {
    for (const slot of this.slots) slot.port?.close();
    await this.pool?.close();
    this.pool = null;
  }
}
