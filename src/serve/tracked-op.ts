/**
 * The worker side of a serving pipeline's operators, loaded once per operator as
 * `tracked-op.js?op=<kind>&name=<operator>&ref=<the user's FnRef as JSON>`: it unwraps a request's
 * record, runs the user's function with `ctx.requestId` set, wraps what it returns with the same
 * origin and keeps the request's in-flight count right (slot-table.ts). Every kind runs as a
 * flatMap, so a record of a request that is over can be dropped at the first operator it meets.
 */
import { resolveTaskFunction } from '../pool/index.js';
import { compileSource, type FnRef } from '../stream/plan/functions.js';
import type { OperatorContext } from '../stream/operators/context.js';
import { Drop, SlotTable } from './slot-table.js';
import { SLOTS_SHARED_NAME, type Envelope } from './envelope.js';

type AnyFn = (...args: unknown[]) => unknown;

const params = new URL(import.meta.url).searchParams;
const kind = params.get('op');
const operator = params.get('name') ?? 'operator';
const ref = JSON.parse(params.get('ref') ?? 'null') as FnRef;
const inner: AnyFn = ref.kind === 'source' ? compileSource(ref) : ((await resolveTaskFunction(ref.module, ref.export)) as AnyFn);

const tables = new WeakMap<SharedArrayBuffer, SlotTable>();
let lastCtx: OperatorContext | undefined;
let lastTable: SlotTable | undefined;
function tableOf(ctx: OperatorContext): SlotTable {
  if (ctx === lastCtx) return lastTable!;
  const buffer = ctx.shared[SLOTS_SHARED_NAME];
  if (buffer === undefined) throw new Error(`operator '${operator}' runs outside a serving pipeline (no slot table shared)`);
  let table = tables.get(buffer);
  if (table === undefined) tables.set(buffer, (table = SlotTable.attach(buffer)));
  lastCtx = ctx;
  lastTable = table;
  return table;
}

const NONE: Envelope[] = [];

function failed(origin: number, error: unknown): Envelope[] {
  const e = error as { message?: unknown; code?: unknown };
  const message = `operator '${operator}' failed: ${typeof e?.message === 'string' ? e.message : String(error)}`;
  return [{ o: origin, m: 'error', e: { code: typeof e?.code === 'string' ? e.code : 'ERR_OPERATOR_FAILED', message, operator } }];
}

/** A record filtered out: it is gone, unless it was its request's last, which a 'done' marker then replaces. */
function dropped(table: SlotTable, origin: number): Envelope[] {
  return table.drop(origin) === Drop.Last ? [{ o: origin, m: 'done' }] : NONE;
}

/** The origin of the record being processed, which ctx.requestId reads when asked. */
let current = 0;
const withRequestId = new WeakSet<OperatorContext>();

/**
 * ctx.requestId as a getter: the id is decoded from the slot table (a copy and a UTF-8 decode)
 * only when the operator reads it, not once per record.
 */
function provideRequestId(ctx: OperatorContext, table: SlotTable): void {
  withRequestId.add(ctx);
  Object.defineProperty(ctx, 'requestId', { configurable: true, enumerable: true, get: () => table.requestId(current) });
}

export function fn(record: Envelope, ctx: OperatorContext): Envelope[] {
  if (record.m !== undefined) return kind === 'keyOf' ? [{ ...record, k: record.o }] : [record];
  const table = tableOf(ctx);
  const origin = record.o;
  if (!table.live(origin)) return NONE; // its request is over (timed out, aborted, failed)
  if (!withRequestId.has(ctx)) provideRequestId(ctx, table);
  current = origin;
  try {
    if (kind === 'map') return [{ o: origin, v: inner(record.v, ctx) }];
    if (kind === 'keyOf') {
      const key = inner(record.v);
      if (key === undefined) throw new TypeError('the key selector returned undefined');
      return [{ o: origin, v: record.v, k: key }];
    }
    if (kind === 'filter') return inner(record.v, ctx) ? [record] : dropped(table, origin);
    const out = inner(record.v, ctx) as Iterable<unknown>;
    const items = Array.isArray(out) ? out : [...out];
    if (items.length === 0) return dropped(table, origin);
    // The new records are counted before any of them is published.
    if (!table.derive(origin, items.length)) return NONE;
    const wrapped = new Array<Envelope>(items.length);
    for (let i = 0; i < items.length; i++) wrapped[i] = { o: origin, v: items[i] };
    return wrapped;
  } catch (error) {
    const marker = failed(origin, error);
    // The shuffle after a key selector routes by `k`: the failure goes on under its request's origin.
    if (kind === 'keyOf') marker[0]!.k = origin;
    return marker;
  }
}
