import type { JobSnapshot } from '../stream/index.js';

/** Where progress goes: a TTY gets one line rewritten in place, anything else plain lines. */
export interface ProgressOutput {
  write(text: string): void;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

const count = new Intl.NumberFormat('en-US');
const rate = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M/s` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k/s` : `${Math.round(n)}/s`);
const bytes = (n: number) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(0)} KiB` : `${n} B`);
const sum = (values: Record<string, number>) => Object.values(values).reduce((a, b) => a + b, 0);

/**
 * Turns job snapshots taken at intervals into progress lines: records/s in (sources) and out
 * (sinks), then each stage's frames/s and backlog, and errors when there are any.
 */
export class ProgressReporter {
  private last?: { at: number; snapshot: JobSnapshot };
  private lineShown = false;

  constructor(private readonly out: ProgressOutput) {}

  /** One line describing what moved since the previous call. */
  line(snapshot: JobSnapshot, at: number): string {
    const previous = this.last;
    this.last = { at, snapshot };
    const seconds = previous ? Math.max(1e-3, (at - previous.at) / 1000) : 0;
    const perSecond = (now: number, before: number | undefined) => (previous ? (now - (before ?? 0)) / seconds : 0);
    const inTotal = sum(snapshot.sources);
    const outTotal = sum(snapshot.sinks);
    const parts = [
      `in ${count.format(inTotal)} (${rate(perSecond(inTotal, previous && sum(previous.snapshot.sources)))})`,
      `out ${count.format(outTotal)} (${rate(perSecond(outTotal, previous && sum(previous.snapshot.sinks)))})`,
    ];
    const byStage = new Map<string, { in: number; out: number; inBefore: number; outBefore: number; backlog: number }>();
    for (const stage of snapshot.stages) {
      const before = previous?.snapshot.stages.find((s) => s.name === stage.name && s.instance === stage.instance);
      const entry = byStage.get(stage.name) ?? { in: 0, out: 0, inBefore: 0, outBefore: 0, backlog: 0 };
      entry.in += stage.recordsIn;
      entry.out += stage.recordsOut;
      entry.inBefore += before?.recordsIn ?? 0;
      entry.outBefore += before?.recordsOut ?? 0;
      entry.backlog += stage.backlogBytes;
      byStage.set(stage.name, entry);
    }
    for (const [name, s] of byStage) {
      parts.push(`${name} in ${rate(perSecond(s.in, s.inBefore))} out ${rate(perSecond(s.out, s.outBefore))} backlog ${bytes(s.backlog)}`);
    }
    if (snapshot.failures > 0) parts.push(`errors ${count.format(snapshot.failures)}`);
    return parts.join(' · ');
  }

  /** Shows the current line: rewritten in place on a TTY, appended otherwise. */
  show(snapshot: JobSnapshot, at = performance.now()): void {
    const text = this.line(snapshot, at);
    if (this.out.isTTY) {
      const width = Math.max(20, (this.out.columns ?? 120) - 1);
      this.out.write(`\r\x1b[2K${text.length > width ? `${text.slice(0, width - 1)}…` : text}`);
      this.lineShown = true;
    } else {
      this.out.write(`${new Date().toISOString()} ${text}\n`);
    }
  }

  /** Ends a TTY's in-place line so that what follows starts on a line of its own. */
  finish(): void {
    if (this.lineShown) this.out.write('\n');
    this.lineShown = false;
  }
}
