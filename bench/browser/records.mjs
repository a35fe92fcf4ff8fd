// The records both transports move in the browser bench: 16 bytes each, a sequence number, a
// check word derived from it and a float, so the receiver can verify content and order per record.
export const RECORD_BYTES = 16;
export const RECORD_TYPE = 1;

/** The check word of record `seq`. */
export function checkOf(seq) {
  return Math.imul(seq, 0x9e3779b1) >>> 0;
}

export function valueOf(seq) {
  return seq * 0.25;
}

/** Writes record `seq` at byte `byteOffset` (8-aligned) of the views over one buffer. */
export function writeRecord(u32, f64, byteOffset, seq) {
  u32[byteOffset >> 2] = seq;
  u32[(byteOffset >> 2) + 1] = checkOf(seq);
  f64[(byteOffset >> 3) + 1] = valueOf(seq);
}

/**
 * What a blocking read of an empty ring does on this thread: 'waited' (it parked until its 0 ms
 * timeout), or the code of the error it was refused with.
 */
export function tryBlockingRead(SharedRing) {
  try {
    SharedRing.create({ capacity: 4096 }).read(0);
    return 'waited';
  } catch (error) {
    return error.code === 'ERR_TIMEOUT' ? 'waited' : (error.code ?? String(error));
  }
}

/** Checks records as they arrive: each must be the next in sequence, with the right content. */
export function makeChecker() {
  const state = { next: 0, errors: 0, firstBad: null };
  state.check = (seq, check, value, length, type) => {
    if (seq !== state.next || check !== checkOf(seq) || value !== valueOf(seq) || length !== RECORD_BYTES || type !== RECORD_TYPE) {
      state.errors++;
      state.firstBad ??= { expected: state.next, seq, check, value, length, type };
    }
    state.next = seq + 1;
  };
  return state;
}
