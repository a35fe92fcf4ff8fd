import { hashKey } from '../../codec/index.js';
import { DEFAULT_MAX_PARALLELISM, instanceForKeyGroup } from '../../state/key-groups.js';
import type { Partition } from '../plan/graph.js';
import { KeySelectorError } from './errors.js';

/**
 * Picks which instance(s) of the next vertex get a record. The same code routes on the main thread
 * (sources) and in workers (stage outputs), so a key lands on the same instance either way.
 * 'hash' routes by key group (Flink's): the key's group is `hashKey(key) % maxParallelism`, and
 * instance i owns a contiguous range of groups, so tables co-partitioned with keyBy can be
 * re-partitioned by whole key groups when the parallelism changes.
 */
export class Router {
  private next = 0;
  /** The key hash of the record last routed on a 'hash' partition. */
  lastHash = 0;

  constructor(
    private readonly partition: Partition['kind'],
    private readonly targets: number,
    /** For 'forward': the sending instance's index. */
    private readonly self: number,
    /** For 'hash': the compiled key function. */
    private readonly key?: (value: unknown) => unknown,
    /** For 'hash': the key selector's name, for the failures it causes. */
    private readonly keyName = 'keyBy',
    /** For 'hash': the number of key groups (fixed for a state's life). */
    private readonly maxParallelism = DEFAULT_MAX_PARALLELISM,
  ) {
    // Spread round-robin senders so that several of them do not all start at instance 0.
    this.next = self % Math.max(targets, 1);
  }

  /** The target instance, or -1 for every instance (broadcast). */
  route(value: unknown): number {
    switch (this.partition) {
      case 'hash':
        return this.hashRoute(value);
      case 'broadcast':
        return this.targets === 1 ? 0 : -1;
      case 'forward':
        return this.self % this.targets;
      default: {
        const target = this.next;
        this.next = target + 1 === this.targets ? 0 : target + 1;
        return target;
      }
    }
  }

  /**
   * Routes `count` records at once on a 'roundRobin' partition: the target of the first (the others
   * follow it in turn, as if routed one by one).
   */
  routeRun(count: number): number {
    const first = this.next;
    this.next = (first + count) % this.targets;
    return first;
  }

  /** A record whose key selector throws or gives no key is that record's failure (KeySelectorError), not the stage's. */
  private hashRoute(value: unknown): number {
    let key: unknown;
    try {
      key = this.key!(value);
    } catch (error) {
      throw new KeySelectorError(this.keyName, value, error);
    }
    if (key === undefined) throw new KeySelectorError(this.keyName, value, new TypeError('the key selector returned undefined'));
    try {
      return instanceForKeyGroup((this.lastHash = hashKey(key)) % this.maxParallelism, this.targets, this.maxParallelism);
    } catch (error) {
      throw new KeySelectorError(this.keyName, value, error);
    }
  }
}
