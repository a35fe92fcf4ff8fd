import type { VectorArray } from '../../codec/index.js';

/**
 * A BatchRef frame names a RecordBatch in a feed arena and which of its rows the frame carries:
 *
 * ```
 *  0        4        8          12       16                                   48
 *  | arena  | offset | selected | (zero) | row bitmap, 256 bits as 8 × uint32 |
 * ```
 *
 * `selected` is -1 when every row is in (the bitmap is then all zero and not read). A stage that
 * hands a referenced batch's rows on unchanged in place (filter, an in-place map) sends the same
 * batch on with the rows that survived, so the vectors are never copied between the queue and the
 * sink. Batches hold at most 256 rows (see batchRows).
 */
export const BATCH_REF_SIZE = 48;
export const MAX_REF_ROWS = 256;
const ALL_ROWS = -1;
const BITMAP_WORD = 4;

/** Which rows of a referenced batch a frame carries. */
export class RowSelection {
  readonly bits = new Int32Array(MAX_REF_ROWS >>> 5);
  count = 0;

  add(row: number): void {
    this.bits[row >>> 5]! |= 1 << (row & 31);
    this.count++;
  }

  clear(): void {
    this.bits.fill(0);
    this.count = 0;
  }
}

/** Writes a BatchRef frame's payload (claimed with `BATCH_REF_SIZE` bytes) at `offset` of `data`. */
export function writeBatchRef(data: Uint8Array, offset: number, arena: number, at: number, selection?: RowSelection): void {
  const words = new Int32Array(data.buffer, data.byteOffset + offset, BATCH_REF_SIZE >>> 2);
  words[0] = arena;
  words[1] = at;
  words[2] = selection === undefined ? ALL_ROWS : selection.count;
  words[3] = 0;
  for (let i = 0; i < MAX_REF_ROWS >>> 5; i++) words[BITMAP_WORD + i] = selection === undefined ? 0 : selection.bits[i]!;
}

/** The arena id of the BatchRef frame at word `w` (its byte offset / 4) of `words`. */
export const refArena = (words: Int32Array, w: number): number => words[w]!;
/** The batch's byte offset in its arena. */
export const refOffset = (words: Int32Array, w: number): number => words[w + 1]! >>> 0;
/** True when the frame carries every row of the batch. */
export const refAllRows = (words: Int32Array, w: number): boolean => words[w + 2] === ALL_ROWS;
/** True when the frame carries row `row` (only meaningful when not refAllRows). */
export const refHasRow = (words: Int32Array, w: number, row: number): boolean => ((words[w + BITMAP_WORD + (row >>> 5)]! >>> (row & 31)) & 1) === 1;

/**
 * The referenced batch whose rows a worker's operators are being handed right now, as the edge
 * writer needs it to send rows on in place: where the operators' vectors live (the arena itself,
 * or the private copy they were given), and the arena's columns to write a changed uid, ts or
 * copied vector back into. Active only while the batch's rows are being decoded.
 */
export class InputBatch {
  active = false;
  arena = 0;
  at = 0;
  rows = 0;
  dim = 0;
  float64 = false;
  /**
   * Where the vectors handed to the operators live, and whether that is a private copy of the arena
   * rows: rows [i * pieceRows, (i + 1) * pieceRows) are views of pieces[i], from viewByteOffset.
   */
  readonly pieces: ArrayBufferLike[] = [];
  pieceRows = 0;
  viewByteOffset = 0;
  rowBytes = 0;
  copied = false;
  /** The batch's columns in the arena. */
  data: VectorArray | undefined;
  uids: BigUint64Array | undefined;
  tsWords: Int32Array | undefined;
  /** The batch row a vector handed out is a view of, or -1 if it is none. */
  rowOf(vector: VectorArray): number {
    const piece = this.pieces.indexOf(vector.buffer);
    if (piece < 0) return -1;
    const within = (vector.byteOffset - this.viewByteOffset) / this.rowBytes;
    if (!Number.isInteger(within) || within < 0 || within >= this.pieceRows) return -1;
    return piece * this.pieceRows + within;
  }

  /** Rows are sent on in increasing order only, so none is overwritten before it is read. */
  lastRow = -1;
  /** Rows claimed for the next BatchRef frame. */
  readonly selection = new RowSelection();
}
