/**
 * Live counters of a job's worker instances, in one SharedArrayBuffer the main thread reads
 * whenever it wants (progress lines, /metrics) without asking the workers anything.
 *
 *   slot s (one per worker instance, in plan order), 4 float64s = 32 bytes:
 *   ┌───────────┬────────────┬──────────┬───────────┐
 *   │ recordsIn │ recordsOut │ failures │ watermark │
 *   └───────────┴────────────┴──────────┴───────────┘
 *
 * A stage writes its slot once per pass over its input (not per record), with plain stores: a
 * reader may see a pass's counts a pass late, never a torn aligned float64 on the hosts we run on.
 */
const FIELDS = 4;
const RECORDS_IN = 0;
const RECORDS_OUT = 1;
const FAILURES = 2;
const WATERMARK = 3;

export interface StageCounts {
  recordsIn: number;
  recordsOut: number;
  failures: number;
  /** The instance's input watermark (ms; -Infinity before the first). */
  watermark: number;
}

export class StageCounters {
  private constructor(
    readonly buffer: SharedArrayBuffer,
    private readonly values: Float64Array,
  ) {}

  static create(slots: number): StageCounters {
    const buffer = new SharedArrayBuffer(Math.max(1, slots) * FIELDS * Float64Array.BYTES_PER_ELEMENT);
    const counters = new StageCounters(buffer, new Float64Array(buffer));
    for (let s = 0; s < slots; s++) counters.values[s * FIELDS + WATERMARK] = -Infinity;
    return counters;
  }

  static attach(buffer: SharedArrayBuffer): StageCounters {
    return new StageCounters(buffer, new Float64Array(buffer));
  }

  publish(slot: number, recordsIn: number, recordsOut: number, failures: number, watermark: number): void {
    const base = slot * FIELDS;
    const v = this.values;
    v[base + RECORDS_IN] = recordsIn;
    v[base + RECORDS_OUT] = recordsOut;
    v[base + FAILURES] = failures;
    v[base + WATERMARK] = watermark;
  }

  read(slot: number): StageCounts {
    const base = slot * FIELDS;
    const v = this.values;
    return { recordsIn: v[base + RECORDS_IN]!, recordsOut: v[base + RECORDS_OUT]!, failures: v[base + FAILURES]!, watermark: v[base + WATERMARK]! };
  }
}
