import { MisalignedOffsetError } from './errors.js';
import type { VectorSpan } from './flat-table.js';

type ElementArrayConstructor<T> = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): T;
  readonly BYTES_PER_ELEMENT: number;
};

/**
 * What every in-place reader shares: one DataView over the whole region (a reader is pointed at
 * record after record, so nothing is allocated per record) and typed views onto its memory.
 */
export abstract class RecordReader {
  readonly bytes: Uint8Array;
  protected readonly view: DataView;
  /** Scratch for `readVector`. */
  protected readonly span: VectorSpan = { at: 0, length: 0 };
  // Cached: a typed array's `buffer` and `byteOffset` are slow to read in Node 20 (see memory.ts).
  private readonly buffer: ArrayBufferLike;
  private readonly byteOffset: number;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.buffer = bytes.buffer;
    this.byteOffset = bytes.byteOffset;
  }

  /** `length` elements at byte `at` of `bytes`, as a view sharing its memory. */
  protected elementsView<T>(Type: ElementArrayConstructor<T>, at: number, length: number): T {
    const start = this.byteOffset + at;
    // Records written by this codec are always aligned; one copied to an odd offset is not.
    if (start % Type.BYTES_PER_ELEMENT !== 0) throw new MisalignedOffsetError(start, Type.BYTES_PER_ELEMENT);
    return new Type(this.buffer, start, length);
  }

  /** `length` elements at byte `at` of `bytes`, copied into fresh memory (whatever the alignment). */
  protected elementsCopy<T>(Type: ElementArrayConstructor<T>, at: number, length: number): T {
    const copy = this.bytes.slice(at, at + length * Type.BYTES_PER_ELEMENT);
    return new Type(copy.buffer, 0, length);
  }
}
