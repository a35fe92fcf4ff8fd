import { isOpRef } from '../pool/op.js';
import { resolveTaskFunction } from '../pool/task.js';
import { BaseServiceTask, type TaskRuntime } from './base-task.js';
import { UnknownMethodError } from './errors.js';
import { ReplyRings, ServiceHost } from './host.js';
import { collectMethods, instantiate, isCallableName, MethodTable } from './methods.js';
import { bellAt, I_EPOCH, I_HOST_BELL, instanceBase } from './protocol.js';

/**
 * A service whose instance lives on the main thread. Calls from the main thread invoke its
 * methods directly: arguments and results pass by reference, nothing is copied or serialized.
 * Calls from worker threads (operators, other services, clients) arrive on its request ring and
 * are served by a ServiceHost loop on the main thread — started when the first worker client is
 * registered, it never spins: it parks with Atomics.waitAsync, so the main thread is not held.
 */
export class LocalServiceTask extends BaseServiceTask {
  private instance: object | null = null;
  private table: MethodTable | null = null;
  private readonly replyRings = new ReplyRings();
  private host: ServiceHost | null = null;
  private hostRun: Promise<void> | null = null;

  async setup(runtime: TaskRuntime): Promise<void> {
    this.setState('starting');
    try {
      const target = isOpRef(this.target) ? await resolveTaskFunction(this.target.module, this.target.export) : this.target;
      this.instance = await instantiate(target, this.options.options, {
        name: this.name,
        instance: 0,
        services: runtime.mainThreadServices,
      });
      this.table = new MethodTable(collectMethods(this.instance));
      this.methodNames = this.table.methodNames;
    } catch (error) {
      this.setState('failed');
      throw error;
    }
  }

  async start(): Promise<void> {
    this.setState('running');
  }

  /**
   * Runs `method` on the instance, here and now. Throws UnknownMethodError for a name that is not
   * a method; whatever the method throws or returns is the caller's to handle.
   */
  invoke(method: string, args: readonly unknown[]): unknown {
    const table = this.table!;
    const index = typeof method === 'string' && isCallableName(method) ? table.findName(method) : -1;
    if (index < 0) throw new UnknownMethodError(this.name, method);
    return table.fn(index).apply(this.instance, args as unknown[]);
  }

  hasMethod(method: string): boolean {
    return this.table !== null && typeof method === 'string' && isCallableName(method) && this.table.findName(method) >= 0;
  }

  async addReplyRing(id: number, buffer: SharedArrayBuffer, bell: SharedArrayBuffer): Promise<void> {
    this.replyRings.add(id, buffer, bell);
    this.ensureHost();
  }

  async removeReplyRing(id: number): Promise<void> {
    this.replyRings.remove(id);
  }

  private ensureHost(): void {
    if (this.host !== null || this.instance === null || this.table === null) return;
    this.host = new ServiceHost({
      name: this.name,
      instance: 0,
      epoch: Atomics.load(this.words, instanceBase(0) + I_EPOCH),
      ring: this.rings[0]!,
      control: this.words,
      bell: bellAt(this.words, instanceBase(0) + I_HOST_BELL),
      target: this.instance,
      methods: this.table,
      replyRings: this.replyRings,
      spinMicros: 0,
    });
    this.hostRun = this.host.run();
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.setState('stopping');
    this.rings[0]!.close();
    this.wakeHosts();
    await this.hostRun;
    this.setState('stopped');
  }

  async cleanup(): Promise<void> {
    await disposeInstance(this.instance);
    this.instance = null;
    this.host = null;
    this.hostRun = null;
  }
}

/** Calls the instance's `Symbol.asyncDispose` / `Symbol.dispose`, if it has one. */
export async function disposeInstance(instance: object | null): Promise<void> {
  if (instance === null) return;
  const asyncDispose = (Symbol as { asyncDispose?: symbol }).asyncDispose;
  const dispose = (Symbol as { dispose?: symbol }).dispose;
  const target = instance as Record<symbol, unknown>;
  if (asyncDispose !== undefined && typeof target[asyncDispose] === 'function') await (target[asyncDispose] as () => unknown).call(instance);
  else if (dispose !== undefined && typeof target[dispose] === 'function') (target[dispose] as () => unknown).call(instance);
}
