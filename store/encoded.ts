/**
 * A batch as both adapters write it: rows deduplicated by key, each column's
 * values in one array (the table's column order), maps already JSON text.
 * The worker store posts batches in this form: arrays of strings and numbers
 * are cheaper to structured-clone than row objects, and the worker then
 * writes them without stringifying anything again.
 */
import { TABLES, toColumnValue, type Column } from './columns.ts';
import { rowKey, uniqueBy } from './shared.ts';
import type { RequestRecord, RowKind, RowOf } from './types.ts';

export interface EncodedBatch {
  kind: RowKind;
  /** Rows in the batch (the length of every column array). */
  rows: number;
  /**
   * One array per column of `TABLES[kind].columns`: strings (or null for
   * absent optional ones), numbers, booleans, string arrays for lists.
   */
  columns: unknown[][];
}

/** What an adapter writes an encoded batch with (the store worker calls it). */
export interface EncodedSink {
  insertEncoded(batch: EncodedBatch): Promise<void>;
}

/**
 * Deduplicates `rows` by key (ids: the first write stands; replacing keys:
 * the last) and encodes them column by column.
 */
export function encodeRows<K extends RowKind>(kind: K, rows: readonly RowOf[K][]): EncodedBatch {
  const spec = TABLES[kind];
  const unique = uniqueBy(rows, (r) => rowKey(kind, r), spec.replacing ? 'last' : 'first');
  const columns =
    kind === 'records'
      ? recordColumns(unique as RequestRecord[])
      : spec.columns.map((col) => columnOf(col, unique));
  return { kind, rows: unique.length, columns };
}

/**
 * JSON text of a map column. The collector's records share their anonymised
 * maps (one object per token, values and second): each object is
 * stringified once per batch.
 */
function jsonText(): (v: unknown) => string {
  const text = new Map<unknown, string>();
  return (v) => {
    let s = text.get(v);
    if (s === undefined) text.set(v, (s = JSON.stringify(v ?? {})));
    return s;
  };
}

/**
 * One column of any kind, as toColumnValue has it. Arrays are filled by
 * push, not preallocated: a packed array structured-clones in one dense
 * pass, a holey one property by property (several times slower).
 */
function columnOf(col: Column, rows: readonly object[]): unknown[] {
  const out: unknown[] = [];
  if (col.type === 'json') {
    const json = jsonText();
    for (const r of rows) out.push(json((r as Record<string, unknown>)[col.field] ?? col.dflt));
  } else for (const r of rows) out.push(toColumnValue(col, r));
  return out;
}

/**
 * The columns of request records, the kind written per request, read with
 * named property loads in one pass over the rows (the generic path pays a
 * keyed load and a conversion switch per value). The same values as
 * `columnOf` over `TABLES.records` (a test holds them equal).
 */
function recordColumns(rows: readonly RequestRecord[]): unknown[][] {
  const cols: unknown[][] = TABLES.records.columns.map(() => []);
  const [
    id,
    time,
    token,
    op,
    params,
    allow,
    rule,
    cost,
    sec,
    min,
    hour,
    dow,
    doy,
    holiday,
    profile,
    region,
    events,
  ] = cols;
  const [paramsJson, profileJson, eventsJson] = [jsonText(), jsonText(), jsonText()];
  for (const r of rows) {
    id!.push(r.id);
    time!.push(r.timeMs);
    token!.push(r.token);
    op!.push(r.op ?? null);
    params!.push(paramsJson(r.params));
    allow!.push(r.allow);
    rule!.push(r.ruleId ?? null);
    cost!.push(r.cost);
    sec!.push(r.secondOfMinute);
    min!.push(r.minuteOfHour);
    hour!.push(r.hourOfDay);
    dow!.push(r.dayOfWeek);
    doy!.push(r.dayOfYear);
    holiday!.push(r.holiday);
    profile!.push(profileJson(r.profile));
    region!.push(r.region ?? null);
    events!.push(eventsJson(r.events));
  }
  return cols;
}
