import { InvalidArgumentError } from '../../errors.js';
import type { Aggregator } from './aggregator.js';
import type { Collector, KeyedOperatorCore } from './core.js';
import { TimerQueue } from './timer-queue.js';
import { timeSettings, type TimeSettings } from './time-domain.js';
import { requirePositiveFinite, requireTimestamp } from './validate.js';
import {
  LATE_OUTPUT,
  NO_WINDOWS,
  type LateRecord,
  type TimeDomain,
  type TimeWindowResult,
  type Window,
} from './window-types.js';

interface Session<K, A> {
  readonly key: K;
  /** First record's ts. */
  start: number;
  /** Last record's ts + gap. Only grows. */
  end: number;
  acc: A;
  /** False once merged into another session or dropped: its pending timers are then stale. */
  alive: boolean;
  /** Windows emitted for this session (or the sessions merged into it) not yet replaced. */
  emitted: Window[];
}

export interface SessionWindowOptions {
  gapMs: number;
  on?: TimeDomain;
  allowedLatenessMs?: number;
}

/**
 * Session windows per key: records closer than `gapMs` to each other share a session
 * [first ts, last ts + gap). A record that bridges sessions merges them (so the aggregator needs
 * `merge`; accumulators are merged earlier session first).
 *
 * A session fires when the watermark reaches its end. A late record is accepted while its own
 * window [ts, ts + gap) is within the allowed lateness (ts + gap + allowedLatenessMs > watermark),
 * else it goes to LATE_OUTPUT. When an accepted record changes a session that already fired, the
 * session re-fires once its (possibly extended) end has passed: `updated` if the window is the same
 * as before, and `supersedes` listing the earlier-emitted windows it replaces when it grew or merged.
 *
 * State is kept until watermark >= end + gap + allowedLatenessMs, a gap longer than Flink keeps
 * it: any record still accepted then lies at or after `end`, so it can never need a session that
 * was already dropped (with Flink's timing a late record can start a fresh session that should
 * have merged with a dropped one).
 */
export class SessionWindowOperator<K, I, A, R> implements KeyedOperatorCore<K, I, TimeWindowResult<K, R>> {
  readonly gapMs: number;
  private readonly time: TimeSettings;
  private readonly merge: (a: A, b: A) => A;
  /** Per key, live sessions sorted by start; they never overlap. */
  private readonly sessions = new Map<K, Session<K, A>[]>();
  private readonly fireTimers = new TimerQueue<Session<K, A>>();
  private readonly cleanupTimers = new TimerQueue<Session<K, A>>();
  private watermark = -Infinity;

  constructor(
    options: SessionWindowOptions,
    private readonly aggregator: Aggregator<I, A, R>,
  ) {
    this.gapMs = requirePositiveFinite('session gap (ms)', options.gapMs);
    this.time = timeSettings(options.on, options.allowedLatenessMs);
    if (typeof aggregator.merge !== 'function') {
      throw new InvalidArgumentError('session windows need an aggregator with merge(a, b): a record can join two sessions into one');
    }
    this.merge = aggregator.merge.bind(aggregator);
  }

  process(key: K, value: I, ts: number, out: Collector<TimeWindowResult<K, R>>): void {
    requireTimestamp(ts);
    if (this.time.processingTime && ts < this.watermark) ts = this.watermark;
    const end = ts + this.gapMs;
    if (end + this.time.allowedLatenessMs <= this.watermark) {
      const late: LateRecord<K, I> = { key, value, ts, watermark: this.watermark };
      out.side(LATE_OUTPUT, late, ts);
      return;
    }
    let list = this.sessions.get(key);
    if (list === undefined) {
      list = [];
      this.sessions.set(key, list);
    }
    // Overlapping sessions are contiguous in the sorted list: [first, last).
    let first = 0;
    while (first < list.length && list[first]!.end <= ts) first++;
    let last = first;
    while (last < list.length && list[last]!.start < end) last++;

    let session: Session<K, A>;
    if (first === last) {
      session = {
        key,
        start: ts,
        end,
        acc: this.aggregator.add(this.aggregator.createAccumulator(), value),
        alive: true,
        emitted: [],
      };
      list.splice(first, 0, session);
      this.scheduleTimers(session);
    } else {
      session = list[first]!;
      session.acc = this.aggregator.add(session.acc, value);
      const oldEnd = session.end;
      for (let i = first + 1; i < last; i++) {
        const other = list[i]!;
        session.acc = this.merge(session.acc, other.acc);
        session.end = Math.max(session.end, other.end);
        for (const w of other.emitted) session.emitted.push(w);
        other.alive = false;
      }
      if (last - first > 1) list.splice(first + 1, last - first - 1);
      session.start = Math.min(session.start, ts);
      session.end = Math.max(session.end, end);
      if (session.end !== oldEnd) this.scheduleTimers(session);
    }
    if (session.end <= this.watermark) this.fire(session, out);
  }

  /** Keys holding window state (for metrics and tests: it drops to 0 once the watermark passes all windows plus lateness). */
  get activeKeys(): number {
    return this.sessions.size;
  }

  onWatermark(watermark: number, out: Collector<TimeWindowResult<K, R>>): void {
    if (!(watermark > this.watermark)) return;
    this.watermark = watermark;
    this.fireDue(watermark, out);
    const linger = this.gapMs + this.time.allowedLatenessMs;
    let session: Session<K, A> | undefined;
    while ((session = this.cleanupTimers.poll(watermark)) !== undefined) {
      if (session.alive && session.end + linger <= watermark) this.drop(session);
    }
  }

  /** End of input: as a final watermark of +Infinity (sessions fire in end order), then no state. */
  flush(out: Collector<TimeWindowResult<K, R>>): void {
    this.fireDue(Infinity, out);
    this.sessions.clear();
    this.fireTimers.clear();
    this.cleanupTimers.clear();
  }

  /** Every session not yet emitted has a fire timer at its current end; stale timers are skipped. */
  private fireDue(limit: number, out: Collector<TimeWindowResult<K, R>>): void {
    let session: Session<K, A> | undefined;
    while ((session = this.fireTimers.poll(limit)) !== undefined) {
      if (session.alive && session.end <= limit && !this.wasEmitted(session)) this.fire(session, out);
    }
  }

  /** Timers for the session's current end; those for an earlier end become stale (end only grows). */
  private scheduleTimers(session: Session<K, A>): void {
    if (session.end > this.watermark) this.fireTimers.schedule(session.end, session);
    this.cleanupTimers.schedule(session.end + this.gapMs + this.time.allowedLatenessMs, session);
  }

  /** Its current window was emitted and nothing changed since. */
  private wasEmitted(session: Session<K, A>): boolean {
    const e = session.emitted;
    return e.length === 1 && e[0]!.start === session.start && e[0]!.end === session.end;
  }

  private fire(session: Session<K, A>, out: Collector<TimeWindowResult<K, R>>): void {
    const previous = session.emitted;
    const updated = previous.some((w) => w.start === session.start && w.end === session.end);
    // Merged sessions' windows are disjoint, so `previous` holds each window once.
    const supersedes =
      previous.length > (updated ? 1 : 0)
        ? previous.filter((w) => w.start !== session.start || w.end !== session.end)
        : NO_WINDOWS;
    const window: Window = { start: session.start, end: session.end };
    session.emitted = [window];
    out.collect(
      { key: session.key, window, value: this.aggregator.getResult(session.acc), updated, supersedes },
      session.end - 1,
    );
  }

  private drop(session: Session<K, A>): void {
    session.alive = false;
    const list = this.sessions.get(session.key);
    if (list === undefined) return;
    const i = list.indexOf(session);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.sessions.delete(session.key);
  }
}
