/** How connector messages turn into records and back: JSON, raw bytes, or MessagePack (msgpackr). */
// 'msgpackr/pack' (its plain index in Node), as src/codec uses: the package root would load the native
// msgpackr-extract and install it as the string decoder of every Unpackr in the process, the core's too.
import { Packr } from 'msgpackr/pack';
import { InvalidArgumentError } from '../errors.js';

export type MessageFormat = 'json' | 'bytes' | 'msgpack';

const FORMATS: readonly MessageFormat[] = ['json', 'bytes', 'msgpack'];
// Plain MessagePack (no record extension), so other languages' clients read what we write.
const packr = new Packr({ useRecords: false, moreTypes: false });
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

export function checkFormat(format: unknown, what: string): MessageFormat {
  if (!FORMATS.includes(format as MessageFormat)) throw new InvalidArgumentError(`${what} must be one of ${FORMATS.map((f) => `'${f}'`).join(', ')}, got ${String(format)}`);
  return format as MessageFormat;
}

export function decoderFor(format: MessageFormat): (data: Uint8Array) => unknown {
  switch (format) {
    case 'json':
      return (data) => JSON.parse(utf8Decoder.decode(data));
    case 'msgpack':
      return (data) => packr.unpack(data);
    case 'bytes':
      return (data) => data;
  }
}

export function encoderFor(format: MessageFormat): (value: unknown) => Uint8Array {
  switch (format) {
    case 'json':
      return (value) => {
        const text = JSON.stringify(value);
        if (text === undefined) throw new TypeError(`${typeof value} has no JSON form`);
        return utf8Encoder.encode(text);
      };
    case 'msgpack':
      return (value) => packr.pack(value);
    case 'bytes':
      return (value) => {
        if (value instanceof Uint8Array) return value;
        if (typeof value === 'string') return utf8Encoder.encode(value);
        throw new TypeError(`encode 'bytes' takes a Uint8Array or a string, got ${value === null ? 'null' : typeof value}`);
      };
  }
}
