import { readlinkSync } from 'node:fs';
import { constants, setPriority } from 'node:os';
import { InvalidArgumentError } from '../errors.js';

/**
 * How much CPU a pool's threads claim when the machine is busy. 'belowNormal' lets the main
 * thread (an Electron UI, an HTTP server's event loop) win the contention for a core, while
 * workers still take every cycle nobody else wants. Lowering is always allowed; raising is not
 * offered (it needs privileges).
 */
export type ThreadPriority = 'normal' | 'belowNormal' | 'low';

const NICE: Record<ThreadPriority, number> = {
  normal: constants.priority.PRIORITY_NORMAL,
  belowNormal: constants.priority.PRIORITY_BELOW_NORMAL,
  low: constants.priority.PRIORITY_LOW,
};

export function checkThreadPriority(value: unknown): ThreadPriority {
  if (typeof value === 'string' && Object.hasOwn(NICE, value)) return value as ThreadPriority;
  throw new InvalidArgumentError(`priority must be 'normal', 'belowNormal' or 'low', got ${String(value)}`);
}

/**
 * Sets the calling thread's priority. Linux schedules threads one by one and names the current
 * one in /proc/thread-self, so a worker can lower itself alone; elsewhere a priority applies to
 * the whole process, and this does nothing. Returns whether it applied.
 */
export function applyThreadPriority(priority: ThreadPriority): boolean {
  if (process.platform !== 'linux' || priority === 'normal') return false;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid)) return false;
    setPriority(tid, NICE[priority]);
    return true;
  } catch {
    return false; // no /proc (a sandbox), or the call was refused: run at the inherited priority
  }
}
