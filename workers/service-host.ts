/**
 * The pool task that runs one worker-placed service instance: it imports the service's module,
 * makes the instance, reports its methods to the manager, and serves the instance's request ring
 * until the manager closes it. Control messages (reply rings of new caller threads) arrive on the
 * task's MessagePort; the serving loop parks with Atomics.waitAsync, so they are handled between
 * requests.
 */
import { resolveTaskFunction } from '../src/pool/task.js';
import { SharedRing } from '../src/ring/index.js';
import { ServiceClient } from '../src/service/client.js';
import { UnknownMethodError } from '../src/service/errors.js';
import { ReplyRings, ServiceHost } from '../src/service/host.js';
import { disposeInstance } from '../src/service/local-task.js';
import { collectMethods, instantiate, isCallableName, MethodTable } from '../src/service/methods.js';
import { bellAt, I_HOST_BELL, instanceBase, type HostControlMessage, type HostEventMessage, type HostTaskData } from '../src/service/protocol.js';

export async function runServiceHost(data: HostTaskData): Promise<{ instance: number }> {
  const { port } = data;
  const replyRings = new ReplyRings();
  for (const [id, buffer, bell] of data.replyRings) replyRings.add(id, buffer, bell);
  // Reply rings of callers registered while this instance starts wait in the port's queue.
  port.on('message', (message: HostControlMessage) => {
    if (message.type === 'addReplyRing') replyRings.add(message.id, message.buffer, message.bell);
    else if (message.type === 'removeReplyRing') replyRings.remove(message.id);
    const ack: HostEventMessage = { type: 'ack', seq: message.seq };
    port.postMessage(ack);
  });

  const client = ServiceClient.connect(data.client);
  let instance: object | null = null;
  try {
    const target = await resolveTaskFunction(data.module, data.export);
    instance = await instantiate(target, data.options, { name: data.name, instance: data.instance, services: client.services });
    const methods = new MethodTable(collectMethods(instance));
    const self = instance;
    client.bindLocal(data.name, (method, args) => {
      const index = typeof method === 'string' && isCallableName(method) ? methods.findName(method) : -1;
      if (index < 0) throw new UnknownMethodError(data.name, method);
      return methods.fn(index).apply(self, args as unknown[]);
    });
    const control = new Int32Array(data.control);
    const host = new ServiceHost({
      name: data.name,
      instance: data.instance,
      epoch: data.epoch,
      ring: SharedRing.attach(data.ring),
      control,
      bell: bellAt(control, instanceBase(data.instance) + I_HOST_BELL),
      target: instance,
      methods,
      replyRings,
      spinMicros: data.spinMicros,
      blocking: true,
    });
    const ready: HostEventMessage = { type: 'ready', methods: methods.methodNames };
    port.postMessage(ready);
    await host.run();
  } finally {
    client.close();
    port.close();
    await disposeInstance(instance);
  }
  return { instance: data.instance };
}
