import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import type { OpRef } from '../pool/op.js';
import { WorkerPool } from '../pool/worker-pool.js';
import { workerModule } from '../pool/worker-files.js';
import { BaseServiceTask, type TaskRuntime } from './base-task.js';
import { DownReason } from './caller.js';
import { ServiceUnavailableError } from './errors.js';
import {
  C_HUNG,
  C_RESTARTS,
  I_EPOCH,
  I_OVERDUE,
  I_SUSPECT,
  instanceBase,
  queuedOf,
  type HostControlMessage,
  type HostEventMessage,
  type HostTaskData,
  type ServiceClientHandle,
} from './protocol.js';

/** Longest wait for a host to take a reply ring: a busy host takes it before its next batch anyway. */
const ACK_WAIT_MS = 1000;

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
  /** Aborting it ends the launch's pool task, terminating its worker (a hung host). */
  abort: AbortController | null;
  /** Why the launch was ended on purpose (it hung), if it was. */
  hung: boolean;
  /** The hang watch: the heartbeat last seen, and the overdue count when it was seen. */
  beatSeen: number;
  overdueAtBeat: number;
}

/**
 * A service whose instances live in pool workers, one thread each, as long-lived tasks on a
 * WorkerPool of its own (sized to `instances`; Piscina cannot resize, and a pool per service lets
 * services be registered after start). Each instance serves its own request ring
 * (workers/service-host.ts). A crash — the task rejects because the worker exited or threw —
 * bumps the instance's epoch, tells every caller thread (INSTANCE_DOWN frames: their in-flight
 * calls to it fail with ServiceUnavailableError) and runs the task again, up to `maxRestarts`
 * times in all; after that the service is `failed` and calls fail fast.
 *
 * A hang watch (a timer on this thread) looks at each instance's heartbeat: stopped for
 * `hangAfterMs` while a call to the instance went past its deadline (callers count those in the
 * control block), the instance is declared hung: its worker is terminated and it restarts as
 * after a crash. Its heartbeat stalled with work queued for part of that time, callers' round-
 * robin skips it meanwhile. Nothing the manager does waits on a hung host: reply-ring
 * registrations wait ACK_WAIT_MS at most, and stop() terminates a host whose heartbeat stopped.
 */
export class WorkerServiceTask extends BaseServiceTask {
  private runtime: TaskRuntime | null = null;
  private pool: WorkerPool | null = null;
  private slots: Slot[] = [];
  private stopping = false;
  /** The manager is stopping (beginDrain): no restarts; a still host is ended. */
  private draining = false;
  private seq = 0;
  private watch: NodeJS.Timeout | null = null;

  async setup(runtime: TaskRuntime): Promise<void> {
    this.runtime = runtime;
    this.setState('starting');
    this.slots = [];
    for (let i = 0; i < this.options.instances; i++) {
      this.slots.push({
        launch: 0,
        port: null,
        run: null,
        ready: false,
        onReady: null,
        acks: new Map(),
        client: await runtime.newClient(),
        abort: null,
        hung: false,
        beatSeen: 0,
        overdueAtBeat: 0,
      });
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
    this.startWatch();
  }

  // ---------------------------------------------------------------- the hang watch

  private startWatch(): void {
    const hangAfter = this.options.hangAfterMs;
    if (hangAfter === Infinity || this.watch !== null) return;
    this.watch = setInterval(() => this.checkHung(), Math.max(10, Math.min(250, hangAfter / 4)));
    this.watch.unref();
  }

  private stopWatch(): void {
    if (this.watch !== null) clearInterval(this.watch);
    this.watch = null;
  }

  /**
   * One look at every instance. While stopping, a host whose heartbeat stopped for hangAfterMs is
   * ended whatever its calls: stop() must not wait on it.
   */
  private checkHung(): void {
    const hangAfter = this.options.hangAfterMs;
    const now = Date.now();
    for (let i = 0; i < this.slots.length; i++) {
      const slot = this.slots[i]!;
      if (!slot.ready || slot.hung) continue;
      const base = instanceBase(i);
      const beat = this.rings[i]!.lastHeartbeat;
      const overdue = Atomics.load(this.words, base + I_OVERDUE);
      if (beat !== slot.beatSeen) {
        slot.beatSeen = beat;
        slot.overdueAtBeat = overdue;
      }
      const stalled = now - beat;
      const suspect = stalled > Math.min(hangAfter / 2, 1000) && queuedOf(this.words, i) > 0 ? 1 : 0;
      if (this.words[base + I_SUSPECT] !== suspect) Atomics.store(this.words, base + I_SUSPECT, suspect);
      if (stalled > hangAfter && (overdue !== slot.overdueAtBeat || this.draining || this.stopping)) this.declareHung(i);
    }
  }

  /** Ends instance `i`'s worker; its pool task rejects, and onExit restarts it as after a crash. */
  private declareHung(i: number): void {
    const slot = this.slots[i]!;
    slot.hung = true;
    Atomics.add(this.words, C_HUNG, 1);
    Atomics.store(this.words, instanceBase(i) + I_SUSPECT, 0);
    slot.abort?.abort(new ServiceUnavailableError(this.name, `instance ${i} hung`));
  }

  /** Starts instance `i` on the pool; resolves when it reports ready, rejects if it fails first. */
  private launch(i: number): Promise<void> {
    const slot = this.slots[i]!;
    const launch = ++slot.launch;
    const { port1, port2 } = new MessageChannel();
    slot.port = port1;
    slot.ready = false;
    slot.hung = false;
    slot.beatSeen = 0;
    slot.overdueAtBeat = Atomics.load(this.words, instanceBase(i) + I_OVERDUE);
    const abort = new AbortController();
    slot.abort = abort;
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
    const run = this.pool!.run({ module: HOST_URL, export: 'runServiceHost', data }, { transferList: [port2] as never, signal: abort.signal });
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
    const hung = slot.hung;
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
    runtime.instanceDown(this.id, i, oldEpoch, hung ? DownReason.hung : DownReason.crashed);
    if (this.draining) return; // the manager is stopping: nothing to restart for
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
    this.stopWatch();
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
    await acked(waits);
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
    await acked(waits);
  }

  override beginDrain(): void {
    this.draining = true;
  }

  async stop(graceMs: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.state !== 'failed') this.setState('stopping');
    for (const ring of this.rings) ring.close();
    this.wakeHosts();
    const runs = this.slots.map((slot) => slot.run?.catch(() => undefined));
    const all = Promise.all(runs);
    // The watch keeps going: a host whose heartbeat stopped is ended before the grace runs out.
    const graceful = await Promise.race([all.then(() => true), sleep(graceMs, false, { ref: false })]);
    this.stopWatch();
    if (!graceful) await this.pool?.close(); // ends the hosts that did not finish in time
    if (this.state !== 'failed') this.setState('stopped');
  }

  async cleanup(): Promise<void> {
    this.stopWatch();
    for (const slot of this.slots) slot.port?.close();
    await this.pool?.close();
    this.pool = null;
  }
}

/**
 * Waits for the hosts' acks, ACK_WAIT_MS at most: a host that does not answer is busy in a long
 * method or hung; it reads its port before its next batch (or is replaced and gets every reply
 * ring at launch), so nothing is lost by not waiting for it.
 */
async function acked(waits: Promise<void>[]): Promise<void> {
  if (waits.length === 0) return;
  await Promise.race([Promise.all(waits), sleep(ACK_WAIT_MS, undefined, { ref: false })]);
}
