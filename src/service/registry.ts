import { InvalidArgumentError } from '../errors.js';
import type { BaseServiceTask } from './base-task.js';
import { LocalServiceTask } from './local-task.js';
import { resolveServiceOptions, validateServiceName, type RegisterServiceOptions } from './options.js';
import { WorkerServiceTask } from './worker-task.js';

/** The services of one manager, by name, each with a small numeric id (used on the wire). */
export class ServiceRegistry {
  private readonly tasks = new Map<string, BaseServiceTask>();
  private readonly byId: BaseServiceTask[] = [];

  /** Validates everything up front, then makes the task (rings and control block included). */
  register(name: unknown, target: unknown, options: RegisterServiceOptions | undefined): BaseServiceTask {
    const serviceName = validateServiceName(name);
    if (this.tasks.has(serviceName)) throw new InvalidArgumentError(`a service named '${serviceName}' is already registered`);
    const resolved = resolveServiceOptions(serviceName, target, options);
    const id = this.byId.length + 1;
    const task = resolved.placement === 'local' ? new LocalServiceTask(serviceName, id, target, resolved) : new WorkerServiceTask(serviceName, id, target, resolved);
    this.tasks.set(serviceName, task);
    this.byId[id] = task;
    return task;
  }

  get(name: string): BaseServiceTask | undefined {
    return this.tasks.get(name);
  }

  has(name: string): boolean {
    return this.tasks.has(name);
  }

  names(): string[] {
    return [...this.tasks.keys()];
  }

  all(): BaseServiceTask[] {
    return [...this.tasks.values()];
  }
}
