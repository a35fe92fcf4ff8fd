import { randomFillSync } from 'node:crypto';

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
/** Random bytes drawn 256 ids at a time (a getrandom call costs microseconds here: one per 256 ids). */
const pool = new Uint8Array(4096);
let poolOffset = pool.length;

/**
 * A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits, so ids sort by
 * creation time.
 */
export function uuidv7(now = Date.now()): string {
  if (poolOffset + 16 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const b = pool.subarray(poolOffset, (poolOffset += 16));
  const high = Math.floor(now / 0x10000); // the top 32 of the 48 time bits
  b[0] = high >>> 24;
  b[1] = (high >>> 16) & 0xff;
  b[2] = (high >>> 8) & 0xff;
  b[3] = high & 0xff;
  b[4] = (now >>> 8) & 0xff;
  b[5] = now & 0xff;
  b[6] = 0x70 | (b[6]! & 0x0f); // version 7
  b[8] = 0x80 | (b[8]! & 0x3f); // variant 10
  return (
    HEX[b[0]]! + HEX[b[1]]! + HEX[b[2]]! + HEX[b[3]]! + '-' + HEX[b[4]]! + HEX[b[5]]! + '-' + HEX[b[6]]! + HEX[b[7]]! + '-' +
    HEX[b[8]]! + HEX[b[9]]! + '-' + HEX[b[10]]! + HEX[b[11]]! + HEX[b[12]]! + HEX[b[13]]! + HEX[b[14]]! + HEX[b[15]]!
  );
}
