import { crc32 } from 'node:zlib';

/**
 * The bytes of a segment file: a sequence of CRC-checked frames. A segment starts with a HEADER
 * frame and a full snapshot; each later checkpoint appends a section of deltas; every section
 * ends with an END frame, and a committed extent always ends at one.
 *
 * ```
 *  0      4      8    9    10        12             16        20
 *  +------+------+----+----+---------+--------------+---------+----------------+
 *  | len  | crc  |type| v  |keyGroup | checkpointId | entries | payload (len)  |
 *  +------+------+----+----+---------+--------------+---------+----------------+
 *  u32 LE  u32    u8   u8   u16        u32            u32
 * ```
 * `crc` is CRC-32 over bytes 8 .. 20+len (the rest of the header and the payload), so a torn or
 * flipped byte anywhere but in `len` itself fails it, and a wrong `len` fails it too.
 */
export const FRAME_HEADER_BYTES = 20;
export const FRAME_VERSION = 1;
/** No key group (frames about a whole table or the segment). */
export const NO_KEY_GROUP = 0xffff;
/** A frame's payload limit: larger batches are split before they get here. */
export const MAX_FRAME_PAYLOAD = 256 * 1024 * 1024;

export const FrameType = {
  /** [appId, partition, first key group, end key group] */
  Header: 1,
  /** A table's time: [table, time]. */
  TableTime: 2,
  /** [table, keys, values, windows | undefined] */
  Put: 3,
  /** [table, keys, windows | undefined] */
  Delete: 4,
  /** [checkpointId]; `entries` holds the frames in the section. */
  End: 5,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export interface FrameHead {
  readonly offset: number;
  readonly type: FrameType;
  readonly keyGroup: number;
  readonly checkpointId: number;
  readonly entries: number;
  readonly payloadStart: number;
  readonly payloadEnd: number;
}

export function encodeFrame(type: FrameType, keyGroup: number, checkpointId: number, entries: number, payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt32LE(payload.length, 0);
  frame.writeUInt8(type, 8);
  frame.writeUInt8(FRAME_VERSION, 9);
  frame.writeUInt16LE(keyGroup, 10);
  frame.writeUInt32LE(checkpointId >>> 0, 12);
  frame.writeUInt32LE(entries >>> 0, 16);
  frame.set(payload, FRAME_HEADER_BYTES);
  frame.writeUInt32LE(crc32(frame.subarray(8)), 4);
  return frame;
}

export type FrameCheck = { ok: true; head: FrameHead } | { ok: false; incomplete: boolean; reason: string };

/** Reads and checks the frame at `offset` of `bytes[0, end)`. `incomplete`: the bytes end inside the frame. */
export function readFrame(bytes: Buffer, offset: number, end: number): FrameCheck {
  if (end - offset < FRAME_HEADER_BYTES) return { ok: false, incomplete: true, reason: `${end - offset} bytes left, a frame header is ${FRAME_HEADER_BYTES}` };
  const length = bytes.readUInt32LE(offset);
  const payloadStart = offset + FRAME_HEADER_BYTES;
  if (length > MAX_FRAME_PAYLOAD) return { ok: false, incomplete: false, reason: `frame length ${length} is past the limit` };
  if (payloadStart + length > end) return { ok: false, incomplete: true, reason: `the frame needs ${FRAME_HEADER_BYTES + length} bytes, ${end - offset} are there` };
  const stored = bytes.readUInt32LE(offset + 4);
  const actual = crc32(bytes.subarray(offset + 8, payloadStart + length));
  if (stored !== actual) return { ok: false, incomplete: false, reason: `CRC mismatch (stored ${stored.toString(16)}, computed ${actual.toString(16)})` };
  const version = bytes.readUInt8(offset + 9);
  if (version !== FRAME_VERSION) return { ok: false, incomplete: false, reason: `frame version ${version}, this build reads ${FRAME_VERSION}` };
  return {
    ok: true,
    head: {
      offset,
      type: bytes.readUInt8(offset + 8) as FrameType,
      keyGroup: bytes.readUInt16LE(offset + 10),
      checkpointId: bytes.readUInt32LE(offset + 12),
      entries: bytes.readUInt32LE(offset + 16),
      payloadStart,
      payloadEnd: payloadStart + length,
    },
  };
}
