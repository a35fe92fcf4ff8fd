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
 * Numbers are in the platform's byte order, as everywhere in a ring's frames.
 */

export const ASCII_STRINGS_MARK = 0xc1;
const HEAD = 8;

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

/** The batch's string ends and where its text starts, checked: every end in order and inside the text, the last at its end. */
function layoutOf(bytes: Uint8Array): { ends: Uint32Array; textAt: number } {
  const n = bytes.length >= HEAD ? new Uint32Array(bytes.buffer, bytes.byteOffset, 2)[1]! : 0;
  const textAt = HEAD + 4 * n;
  if (n === 0 || bytes.length < textAt) throw new MalformedRecordError('an ASCII-strings batch is shorter than its header says');
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
 * of the strings. A view of `bytes` (of a copy when `bytes` is not 4-aligned).
 */
export function asciiStringsText(bytes: Uint8Array): Uint8Array {
  if (bytes.byteOffset % 4 !== 0) bytes = bytes.slice();
  return bytes.subarray(layoutOf(bytes).textAt);
}

/** Decodes what packAsciiStrings wrote; the strings own their memory (none views `bytes`). */
export function unpackAsciiStrings(bytes: Uint8Array): string[] {
  if (bytes.byteOffset % 4 !== 0) bytes = bytes.slice();
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
