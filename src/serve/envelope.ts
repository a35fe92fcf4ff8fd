/**
 * How a request's records travel through the current runtime: each record is wrapped with the
 * origin of its request (see slot-table.ts). When the stream runtime carries an origin column of
 * its own, the wrapper goes and `o` is that column; the counting stays as it is.
 */
export interface Envelope {
  /** The request's origin (slot and generation). */
  o: number;
  /** The record (absent on markers). */
  v?: unknown;
  /**
   * A marker in place of a record: 'done' — the request's last record was filtered out, so this
   * carries its count to the sink; 'error' — an operator threw on one of the request's records.
   */
  m?: 'done' | 'error';
  e?: { code: string; message: string; operator: string };
  /** The record's key, computed in a worker just before a keyBy (markers: their origin). */
  k?: unknown;
}

/** The name the slot table is shared under (ctx.shared). */
export const SLOTS_SHARED_NAME = 'ringflow.serve.slots';
