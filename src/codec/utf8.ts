// UTF-8 for the strings writers put straight into ring memory (keys, service and method names).
// They are short, and encoding them by hand costs less than TextEncoder's per-call overhead and
// allocates nothing. Lone surrogates become U+FFFD, as TextEncoder does, so either encoder
// produces the same bytes.

/** Strings longer than this go through TextEncoder.encodeInto, which wins once the call cost is amortised. */
const NATIVE_FROM = 64;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Bytes `text` takes in UTF-8 (without a terminator). */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) {
      bytes += 1;
    } else if (isHighSurrogate(unit) && i + 1 < text.length && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 2; // the pair's two units become four bytes
      i++;
    } else {
      bytes += 2; // three bytes, a lone surrogate's U+FFFD included
    }
  }
  return bytes;
}

/** Writes `text` as UTF-8 at `at` of `target`; the caller made room for `utf8Length(text)` bytes. */
export function writeUtf8(target: Uint8Array, at: number, text: string): void {
  if (text.length > NATIVE_FROM) {
    encoder.encodeInto(text, target.subarray(at));
    return;
  }
  let out = at;
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code < 0x80) {
      target[out++] = code;
      continue;
    }
    if (code < 0x800) {
      target[out++] = 0xc0 | (code >> 6);
      target[out++] = 0x80 | (code & 0x3f);
      continue;
    }
    if (isHighSurrogate(code) && i + 1 < text.length && isLowSurrogate(text.charCodeAt(i + 1))) {
      code = 0x10000 + ((code - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00);
      target[out++] = 0xf0 | (code >> 18);
      target[out++] = 0x80 | ((code >> 12) & 0x3f);
      target[out++] = 0x80 | ((code >> 6) & 0x3f);
      target[out++] = 0x80 | (code & 0x3f);
      continue;
    }
    if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd;
    target[out++] = 0xe0 | (code >> 12);
    target[out++] = 0x80 | ((code >> 6) & 0x3f);
    target[out++] = 0x80 | (code & 0x3f);
  }
}

function isHighSurrogate(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff;
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/** Strings up to this many bytes go through the cache of recent decodings (per thread). */
const CACHED_UP_TO = 48;
const CACHE_SLOTS = 256;
const cacheBytes: (Uint8Array | undefined)[] = new Array(CACHE_SLOTS).fill(undefined);
const cacheText: (string | undefined)[] = new Array(CACHE_SLOTS).fill(undefined);

/**
 * Decodes `length` bytes of UTF-8 at `start` of `source`. Short strings (service and method names,
 * most keys) repeat, and TextDecoder costs ~150 ns a call even for a few bytes, so they are looked
 * up in a small direct-mapped cache of recent decodings first: a hit is a hash and a compare of
 * the bytes, and returns the same string instance.
 */
export function readUtf8(source: Uint8Array, start: number, length: number): string {
  if (length > CACHED_UP_TO) return decode(source, start, length);
  let hash = 0x811c9dc5;
  for (let i = start; i < start + length; i++) hash = Math.imul(hash ^ source[i]!, 0x01000193);
  const slot = (hash >>> 0) & (CACHE_SLOTS - 1);
  const cached = cacheBytes[slot];
  if (cached !== undefined && cached.length === length && sameBytes(cached, source, start)) return cacheText[slot]!;
  const bytes = source.slice(start, start + length);
  const text = decoder.decode(bytes);
  cacheBytes[slot] = bytes;
  cacheText[slot] = text;
  return text;
}

/**
 * Decodes from a private copy: the Encoding standard lets TextDecoder read shared memory, but not
 * every runtime does, and the copy is small next to the decode.
 */
function decode(source: Uint8Array, start: number, length: number): string {
  return decoder.decode(source.slice(start, start + length));
}

function sameBytes(cached: Uint8Array, source: Uint8Array, start: number): boolean {
  for (let i = 0; i < cached.length; i++) if (cached[i] !== source[start + i]) return false;
  return true;
}
