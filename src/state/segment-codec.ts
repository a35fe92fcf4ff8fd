import { InvalidArgumentError } from '../errors.js';
import { StateCorruptionError, StateValueError } from './errors.js';
import type { KeyGroupRange } from './key-groups.js';
import { FrameType, NO_KEY_GROUP, encodeFrame, readFrame } from './segment-format.js';
import type { PartitionChanges, PartitionExtent, RestoreSink } from './store.js';
import { decodeStateValue, encodeStateValue } from './value-codec.js';

/**
 * The bytes of a segment, whatever holds them (a file, a JetStream subject): one section per
 * checkpoint, of segment-format frames. Every store writes and reads them through these two
 * functions, so the stores differ only in where the bytes go.
 */

export function checkCheckpointId(id: number): void {
  if (!Number.isSafeInteger(id) || id < 1 || id > 0xffffffff) throw new InvalidArgumentError(`a checkpoint id is an integer in 1..2^32-1, got ${id}`);
}

/**
 * One checkpoint's section: a header frame first when `changes.full` (a new segment), then the
 * tables' times, puts and deletes in batches of `batchEntries`, then an END frame. Encoded
 * synchronously: the caller's tables may change as soon as this returns.
 */
export function encodeSection(appId: string, changes: PartitionChanges, batchEntries: number): Buffer {
  const body = encodeSectionBody(changes, batchEntries);
  return changes.full ? Buffer.concat([encodeSegmentHeader(appId, changes), body]) : body;
}

/** The header frame a segment starts with: the app and the partition (checked on restore). */
export function encodeSegmentHeader(appId: string, changes: PartitionChanges): Buffer {
  checkCheckpointId(changes.checkpointId);
  return encodeFrame(FrameType.Header, NO_KEY_GROUP, changes.checkpointId, 0, encodeStateValue([appId, changes.partition, changes.keyGroups.start, changes.keyGroups.end]));
}

/** A section without the segment's header frame (`encodeSection` of a delta). */
export function encodeSectionBody(changes: PartitionChanges, batchEntries: number): Buffer {
  const id = changes.checkpointId;
  checkCheckpointId(id);
  const frames: Buffer[] = [];
  const chunk = <T>(items: T[], at: number): T[] => (at === 0 && items.length <= batchEntries ? items : items.slice(at, at + batchEntries));
  for (const t of changes.tables) {
    if (t.time !== undefined) frames.push(encodeFrame(FrameType.TableTime, NO_KEY_GROUP, id, 0, encodeStateValue([t.table, t.time])));
    for (const g of t.groups) {
      for (let at = 0; at < g.putKeys.length; at += batchEntries) {
        const keys = chunk(g.putKeys, at);
        const values = chunk(g.putValues, at);
        frames.push(encodeFrame(FrameType.Put, g.keyGroup, id, keys.length, encodePuts(t.table, keys, values, g.putWindows ? chunk(g.putWindows, at) : undefined)));
      }
      for (let at = 0; at < g.deleteKeys.length; at += batchEntries) {
        const keys = chunk(g.deleteKeys, at);
        const payload = [t.table, keys, g.deleteWindows ? chunk(g.deleteWindows, at) : undefined];
        frames.push(encodeFrame(FrameType.Delete, g.keyGroup, id, keys.length, encodeStateValue(payload)));
      }
    }
  }
  frames.push(encodeFrame(FrameType.End, NO_KEY_GROUP, id, frames.length, encodeStateValue([id])));
  return Buffer.concat(frames);
}

/** A Put frame's payload; a value the codec refuses is named by its table and key. */
function encodePuts(table: string, keys: string[], values: unknown[], windows: number[] | undefined): Uint8Array {
  // A batch of plain numbers goes as one Float64Array (its bytes, exactly, -0 and NaN included): much cheaper to read back.
  let numbers = true;
  for (let i = 0; i < values.length && numbers; i++) numbers = typeof values[i] === 'number';
  try {
    return encodeStateValue([table, keys, numbers ? Float64Array.from(values as number[]) : values, windows]);
  } catch (e) {
    for (let i = 0; i < values.length; i++) {
      try {
        encodeStateValue(values[i]);
      } catch (cause) {
        throw new StateValueError(table, keys[i]!, cause);
      }
    }
    throw e;
  }
}

/**
 * Replays bytes [0, extent.length) of a segment into `sink`, only the frames of key groups in
 * `range` (the others are skipped by their frame header, not decoded). `where` names the segment
 * in errors (a file path, a stream subject). Every check fails as a StateCorruptionError.
 */
export function replaySegment(
  bytes: Buffer,
  extent: PartitionExtent,
  appId: string,
  where: string,
  range: KeyGroupRange,
  sink: RestoreSink,
): { puts: number; deletes: number } {
  if (bytes.length < extent.length) throw new StateCorruptionError(where, bytes.length, `the segment ends before its committed extent (${extent.length} bytes)`);
  let puts = 0;
  let deletes = 0;
  const end = extent.length;
  let offset = 0;
  let lastEnd = -1;
  let lastEndId = -1;
  const decode = (start: number, stop: number, at: number): unknown[] => {
    try {
      const value = decodeStateValue(bytes.subarray(start, stop));
      if (!Array.isArray(value)) throw new Error('not an array');
      return value;
    } catch (e) {
      throw new StateCorruptionError(where, at, `a frame's payload does not decode: ${String((e as Error).message)}`);
    }
  };
  while (offset < end) {
    const check = readFrame(bytes, offset, end);
    if (!check.ok) {
      throw new StateCorruptionError(where, offset, check.incomplete ? `the committed extent (${end} bytes) ends inside a frame: ${check.reason}` : check.reason);
    }
    const f = check.head;
    if (offset === 0) {
      if (f.type !== FrameType.Header) throw new StateCorruptionError(where, 0, 'the segment does not start with a header frame');
      const [storedApp, partition] = decode(f.payloadStart, f.payloadEnd, offset) as [string, string];
      if (storedApp !== appId || partition !== extent.partition) {
        throw new StateCorruptionError(where, 0, `the segment is of app '${storedApp}' partition '${partition}', the manifest says app '${appId}' partition '${extent.partition}'`);
      }
    } else if (f.type === FrameType.TableTime) {
      const [table, time] = decode(f.payloadStart, f.payloadEnd, offset) as [string, number];
      sink.time(table, time);
    } else if (f.type === FrameType.Put || f.type === FrameType.Delete) {
      if (f.keyGroup >= range.start && f.keyGroup < range.end) {
        if (f.type === FrameType.Put) {
          const [table, keys, values, windows] = decode(f.payloadStart, f.payloadEnd, offset) as [string, string[], ArrayLike<unknown>, number[] | undefined];
          sink.put(table, f.keyGroup, keys, values, windows);
          puts += keys.length;
        } else {
          const [table, keys, windows] = decode(f.payloadStart, f.payloadEnd, offset) as [string, string[], number[] | undefined];
          sink.delete(table, f.keyGroup, keys, windows);
          deletes += keys.length;
        }
      }
    } else if (f.type === FrameType.End) {
      lastEnd = f.payloadEnd;
      lastEndId = f.checkpointId;
    } else {
      throw new StateCorruptionError(where, offset, `unknown frame type ${f.type}`);
    }
    offset = f.payloadEnd;
  }
  if (lastEnd !== end || lastEndId !== extent.checkpointId) {
    throw new StateCorruptionError(where, lastEnd < 0 ? 0 : lastEnd, `the committed extent does not end with checkpoint ${extent.checkpointId}'s end frame`);
  }
  return { puts, deletes };
}
