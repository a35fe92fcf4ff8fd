import { now } from '../platform/index.js';

/** Spins in a row that found nothing before the spinner backs off. */
const FAILURES_TO_BACK_OFF = 32;
/** How long a backed-off spinner parks at once before it tries spinning again (ms). */
const BACK_OFF_MS = 20;

/**
 * How long to spin before parking, adapted to what spinning achieves. Spinning wins when the
 * answer comes within microseconds (a steady stream of calls, a fast service, both threads on a
 * core of their own) and only burns a core otherwise — on a busy 2-core box, the core the other
 * side needs; when the scheduler put both threads on one core, spinning even keeps the other side
 * from running at all.
 *
 * One per waiter (a ring keeps one for its consumer and one for its producers in each thread).
 *
 * So: a spin that catches its frame doubles the budget (up to `max`); one that does not halves it
 * (down to a floor, `max / 16` by default). When a frame ends a park, the whole wait (the failed
 * spin plus the park) is what a spin would have needed: if that is under `max`, the budget grows
 * to twice it, so two threads that fell into parking for every message climb back to spinning.
 * But after several failed spins in a row the spinner backs off: it parks at once for a while
 * (20 ms), then tries its full budget again.
 */
export class AdaptiveSpin {
  private budgetUs: number;
  private readonly minUs: number;
  /** Length of the last spin (µs). */
  private spunUs = 0;
  private failures = 0;
  private backOffUntil = 0;

  /** `minUs` defaults to `maxUs / 16`. */
  constructor(
    readonly maxUs: number,
    minUs = maxUs / 16,
  ) {
    this.budgetUs = maxUs;
    this.minUs = Math.min(maxUs, minUs);
  }

  get budget(): number {
    return this.budgetUs;
  }

  /** Spins until `ready()` or the budget is spent; true when ready. */
  spin(ready: () => boolean): boolean {
    if (this.maxUs <= 0) return ready();
    let t = now();
    if (this.backOffUntil !== 0) {
      if (t < this.backOffUntil) {
        this.spunUs = 0;
        return ready();
      }
      this.backOffUntil = 0; // try spinning again, fully
      this.budgetUs = this.maxUs;
    }
    this.spunUs = this.budgetUs;
    const until = t + this.budgetUs / 1000;
    for (let i = 1; ; i++) {
      if (ready()) {
        this.budgetUs = Math.min(this.maxUs, this.budgetUs * 2);
        this.failures = 0;
        return true;
      }
      // The clock every 64 checks: a read costs ~0.1 µs on a VM, several checks' worth, and a
      // frame that lands during one waits for it. 64 checks are a µs or so, nothing to a budget.
      if ((i & 63) === 0 && (t = now()) >= until) {
        this.budgetUs = Math.max(this.minUs, this.budgetUs / 2);
        if (++this.failures >= FAILURES_TO_BACK_OFF) {
          this.failures = 0;
          this.backOffUntil = t + BACK_OFF_MS;
        }
        return false;
      }
    }
  }

  /** After a park that lasted `waitedMs` (from parking to running again) and ended with a frame. */
  parked(waitedMs: number): void {
    if (this.backOffUntil !== 0) return;
    const waitedUs = this.spunUs + waitedMs * 1000;
    if (waitedUs < this.maxUs) this.budgetUs = Math.max(this.budgetUs, Math.min(this.maxUs, 2 * waitedUs));
  }
}
