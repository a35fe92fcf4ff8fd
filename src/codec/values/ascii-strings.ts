import { MalformedRecordError } from '../errors.js';

/*
 * A batch whose values are all ASCII strings (the lines of a log or a JSONL file, most message
 * bodies) as one text instead of one MessagePack string each: msgpackr decodes a string shorter
 * than 64 bytes a byte at a time in JS. Encode + decode of 4096 JSON lines of ~55 bytes: 0.51 µs a
 * line through msgpackr, 0.16 µs this way, one join and one encodeInto for the batch and one
 * TextDecoder call per string (bench/_scratch/codec-values.ts). Each string is decoded on its own,
 * not sliced out of one decoded text, so a string kept (in a table, say) holds no batch alive.
 *
 *   byte 0      0xc1, a byte MessagePack never begins a value with (so a reader tells the two apart)
 *   bytes 1-3   0
 *   bytes 4-7   u32 count n (≥ 1)
 *   then        n × u32: where each string ends in the text (ASCII: bytes and characters agree)
 *   then        the text: the strings' bytes, one after another
 *
 * A second form, for strings cut out of bytes already in memory (a file's lines, read as bytes):
 * the main thread never makes them strings, and the text is the bytes as read, separators included:
 *
 *   byte 0      0xc1
 *   byte 1      1 (spans)
 *   bytes 2-3   0
 *   bytes 4-7   u32 count n (≥ 1)
 *   then        n × (u32 start, u32 end): string i is text bytes [start, end), in order, not overlapping
 *   then        the text: UTF-8 (byte offsets, so any text; invalid bytes decode as U+FFFD)
 *
 * Numbers are in the platform's byte order, as everywhere in a ring's frames.
 */

export const ASCII_STRINGS_MARK = 0xc1;
const SPANS_FORM = 1;
const HEAD = 8;
/** A builder's buffers for PackedStrings: at least this long (a file source's pieces fit), at most this many kept. */
const MIN_PIECE_BUFFER = 1 << 17;
const MAX_SPARE_BUFFERS = 16;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
let scratch = new Uint8Array(1 << 16);

/**
 * The batch's bytes, or undefined when some value is not a string or not ASCII (then the
 * structured codec writes it). The bytes view a reused buffer: copy them before the next call.
 */
export function packAsciiStrings(values: readonly unknown[]): Uint8Array | undefined {
  const n = values.length;
  if (n === 0) return undefined;
  for (let i = 0; i < n; i++) if (typeof values[i] !== 'string') return undefined;
  const text = (values as readonly string[]).join('');
  const textAt = HEAD + 4 * n;
  const size = textAt + text.length;
  if (scratch.length < size) scratch = new Uint8Array(Math.max(size, scratch.length * 2));
  // All ASCII exactly when every character fits the text's length in bytes: one that is not
  // takes two or more bytes, so encodeInto stops before the end.
  if (encoder.encodeInto(text, scratch.subarray(textAt, size)).read !== text.length) return undefined;
  const words = new Uint32Array(scratch.buffer, 0, textAt >>> 2);
  words[0] = ASCII_STRINGS_MARK;
  words[1] = n;
  let end = 0;
  for (let i = 0; i < n; i++) words[2 + i] = end += (values[i] as string).length;
  return scratch.subarray(0, size);
}

/** Whether `bytes` (a whole values message) is an ASCII-strings batch. */
export function isAsciiStrings(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] === ASCII_STRINGS_MARK;
}

/** The batch's string count and where its text starts (after `wordsPerString` u32 per string), checked against its length. */
function headerOf(bytes: Uint8Array, wordsPerString: number): { n: number; textAt: number } {
  const n = bytes.length >= HEAD ? new Uint32Array(bytes.buffer, bytes.byteOffset, 2)[1]! : 0;
  const textAt = HEAD + 4 * wordsPerString * n;
  if (n === 0 || bytes.length < textAt) throw new MalformedRecordError('a batch of strings is shorter than its header says');
  return { n, textAt };
}

/** The batch's string ends and where its text starts, checked: every end in order and inside the text, the last at its end. */
function layoutOf(bytes: Uint8Array): { ends: Uint32Array; textAt: number } {
  const { n, textAt } = headerOf(bytes, 1);
  const ends = new Uint32Array(bytes.buffer, bytes.byteOffset + HEAD, n);
  const textLength = bytes.length - textAt;
  let start = 0;
  for (let i = 0; i < n; i++) {
    const end = ends[i]!;
    if (end < start || end > textLength) throw new MalformedRecordError(`an ASCII-strings batch's string ${i} ends at ${end}, outside its text (${start}..${textLength})`);
    start = end;
  }
  if (start !== textLength) throw new MalformedRecordError(`an ASCII-strings batch's strings end at ${start}, its text at ${textLength}`);
  return { ends, textAt };
}

/**
 * The batch's text, its strings one after another: for readers that want all of the text and none
 * of the strings. A view of `bytes` (of a copy when `bytes` is not 4-aligned); undefined for the
 * spans form (its text holds the separators too).
 */
export function asciiStringsText(bytes: Uint8Array): Uint8Array | undefined {
  if (bytes[1] === SPANS_FORM) return undefined;
  if (bytes.byteOffset % 4 !== 0) bytes = bytes.slice();
  return bytes.subarray(layoutOf(bytes).textAt);
}

/** Decodes what packAsciiStrings (or a StringSpansBuilder) wrote; the strings own their memory (none views `bytes`). */
export function unpackAsciiStrings(bytes: Uint8Array): string[] {
  if (bytes.byteOffset % 4 !== 0) bytes = bytes.slice();
  if (bytes[1] === SPANS_FORM) return unpackSpans(bytes);
  const { ends, textAt } = layoutOf(bytes);
  const out = new Array<string>(ends.length);
  let start = textAt;
  for (let i = 0; i < ends.length; i++) {
    const end = textAt + ends[i]!;
    out[i] = decoder.decode(bytes.subarray(start, end));
    start = end;
  }
  return out;
}

function unpackSpans(bytes: Uint8Array): string[] {
  const { n, textAt } = headerOf(bytes, 2);
  const spans = new Uint32Array(bytes.buffer, bytes.byteOffset + HEAD, 2 * n);
  const textLength = bytes.length - textAt;
  const out = new Array<string>(n);
  let last = 0;
  for (let i = 0; i < n; i++) {
    const start = spans[2 * i]!;
    const end = spans[2 * i + 1]!;
    if (start < last || end < start || end > textLength) throw new MalformedRecordError(`a string-spans batch's string ${i} spans ${start}..${end}, outside its text (${last}..${textLength})`);
    out[i] = decoder.decode(bytes.subarray(textAt + start, textAt + end));
    last = end;
  }
  return out;
}

/** Strings packed where their bytes were (the spans form above): a main-thread source hands them over undecoded. */
export class PackedStrings {
  constructor(
    /** The whole values message (owned: nothing else writes it). */
    readonly bytes: Uint8Array,
    readonly count: number,
    /** Gives the bytes back to the builder that made them (see release). */
    private recycle?: () => void,
  ) {}

  /**
   * Says nothing reads these bytes any more (they are in the rings, or decoded), so the builder
   * that made them packs its next strings there. Optional: bytes never released are collected.
   */
  release(): void {
    const recycle = this.recycle;
    this.recycle = undefined;
    recycle?.();
  }

  /** The strings, for a path that needs them on this thread. */
  strings(): string[] {
    return unpackAsciiStrings(this.bytes);
  }

  /** How many strings a round-robin share holds: strings first, first + step, first + 2·step, … */
  shareCount(first: number, step: number): number {
    return first < this.count ? Math.ceil((this.count - first) / step) : 0;
  }

  /** The bytes a share of `count` strings takes in the spans form: the same text, fewer spans. */
  shareLength(count: number): number {
    return HEAD + 8 * count + this.bytes.length - (HEAD + 8 * this.count);
  }

  /**
   * Writes a share (one target's part of a round-robin split, so that record i goes where it
   * would go alone; `count` from shareCount) in the spans form at byte `at` of `target`, which
   * must be 4-aligned in its buffer: straight where it goes (a ring's frame), with no copy made
   * on the way, which for a file's lines on 2 targets was twice the file in garbage.
   */
  writeShare(first: number, step: number, count: number, target: Uint8Array, at: number): void {
    if (first === 0 && step === 1) {
      target.set(this.bytes, at);
      return;
    }
    const textAt = HEAD + 8 * this.count;
    const from = new Uint32Array(this.bytes.buffer, this.bytes.byteOffset, textAt >>> 2);
    const to = new Uint32Array(target.buffer, target.byteOffset + at, 2 + 2 * count);
    to[0] = from[0]!;
    to[1] = count;
    for (let i = 0, j = first; i < count; i++, j += step) {
      to[2 + 2 * i] = from[2 + 2 * j]!;
      to[3 + 2 * i] = from[3 + 2 * j]!;
    }
    target.set(this.bytes.subarray(textAt), at + HEAD + 8 * count);
  }
}

/**
 * Builds PackedStrings from bytes arriving in pieces: `appendText` copies a region of bytes once
 * (many strings at a time), `addSpan` names a string by its offsets in the text appended so far
 * or about to be.
 */
export class StringSpansBuilder {
  private spans = new Uint32Array(1024);
  private text = new Uint8Array(1 << 16);
  /** Buffers of released PackedStrings, for the next ones (a file's pieces each took a fresh one). */
  private readonly spare: Uint8Array[] = [];
  textLength = 0;
  count = 0;

  /** Appends bytes [from, to) of `source` to the text. */
  appendText(source: Uint8Array, from: number, to: number): void {
    const length = to - from;
    if (length <= 0) return;
    if (this.textLength + length > this.text.length) {
      const grown = new Uint8Array(Math.max(this.textLength + length, this.text.length * 2));
      grown.set(this.text.subarray(0, this.textLength));
      this.text = grown;
    }
    this.text.set(source.subarray(from, to), this.textLength);
    this.textLength += length;
  }

  /** A byte of the text appended so far. */
  byteAt(at: number): number {
    return this.text[at]!;
  }

  /** String `count` is text bytes [start, end). */
  addSpan(start: number, end: number): void {
    const at = 2 * this.count;
    if (at === this.spans.length) {
      const grown = new Uint32Array(this.spans.length * 2);
      grown.set(this.spans);
      this.spans = grown;
    }
    this.spans[at] = start;
    this.spans[at + 1] = end;
    this.count++;
  }

  /** The strings so far, with the text up to the last one's end; the builder starts empty again. */
  take(): PackedStrings {
    const n = this.count;
    const textLength = n > 0 ? this.spans[2 * n - 1]! : 0;
    const textAt = HEAD + 8 * n;
    const size = textAt + textLength;
    const last = this.spare[this.spare.length - 1];
    const buffer = last !== undefined && last.length >= size ? this.spare.pop()! : new Uint8Array(Math.max(size, MIN_PIECE_BUFFER));
    const bytes = buffer.length === size ? buffer : buffer.subarray(0, size);
    const words = new Uint32Array(bytes.buffer, 0, textAt >>> 2);
    words[0] = ASCII_STRINGS_MARK | (SPANS_FORM << 8);
    words[1] = n;
    words.set(this.spans.subarray(0, 2 * n), 2);
    bytes.set(this.text.subarray(0, textLength), textAt);
    this.count = 0;
    this.textLength = 0;
    return new PackedStrings(bytes, n, () => {
      if (this.spare.length < MAX_SPARE_BUFFERS) this.spare.push(buffer);
    });
  }
}
