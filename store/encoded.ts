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
  const encoder = new ColumnEncoder(kind);
  encoder.add(unique, 0, unique.length);
  return encoder.batch();
}

/** Rows deduplicated or encoded between two looks at the clock (encodeRowsSliced). */
const SLICE_ROWS = 128;

/**
 * {@link encodeRows} in slices of about `sliceMs` of CPU, yielding the
 * thread between them (setImmediate: sockets are read in between): what a
 * caller on the check path's thread uses for a large batch (a forecast
 * round's 5000 rows take 4-7 ms in one go, bench of store/encoded.ts in the
 * commit that added this). The same batch as encodeRows; a row that cannot
 * be encoded rejects.
 */
export async function encodeRowsSliced<K extends RowKind>(
  kind: K,
  rows: readonly RowOf[K][],
  sliceMs = 2,
): Promise<EncodedBatch> {
  const keepLast = TABLES[kind].replacing;
  const byKey = new Map<string, RowOf[K]>();
  let sliceStart = performance.now();
  const due = async (): Promise<void> => {
    if (performance.now() - sliceStart < sliceMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    sliceStart = performance.now();
  };
  for (let i = 0; i < rows.length; i += SLICE_ROWS) {
    const end = Math.min(rows.length, i + SLICE_ROWS);
    for (let j = i; j < end; j++) {
      const r = rows[j]!;
      const k = rowKey(kind, r);
      if (keepLast || !byKey.has(k)) byKey.set(k, r);
    }
    await due();
  }
  const unique = [...byKey.values()];
  const encoder = new ColumnEncoder(kind);
  for (let i = 0; i < unique.length; i += SLICE_ROWS) {
    encoder.add(unique, i, Math.min(unique.length, i + SLICE_ROWS));
    await due();
  }
  return encoder.batch();
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
 * Builds one batch's columns from rows added a range at a time (already
 * deduplicated). Arrays are filled by push, not preallocated: a packed
 * array structured-clones in one dense pass, a holey one property by
 * property (several times slower).
 */
class ColumnEncoder {
  readonly #kind: RowKind;
  readonly #columns: unknown[][];
  /** Per column, its JSON text cache (map columns only): shared by every range of the batch. */
  readonly #json: (((v: unknown) => string) | undefined)[];
  #rows = 0;

  constructor(kind: RowKind) {
    this.#kind = kind;
    const cols = TABLES[kind].columns;
    this.#columns = cols.map(() => []);
    this.#json = cols.map((c) => (c.type === 'json' ? jsonText() : undefined));
  }

  /** Encodes `rows[from, to)`. */
  add(rows: readonly object[], from: number, to: number): void {
    if (this.#kind === 'records') this.#addRecords(rows as readonly RequestRecord[], from, to);
    else {
      const cols = TABLES[this.#kind].columns;
      for (let c = 0; c < cols.length; c++)
        columnOf(cols[c]!, this.#json[c], rows, from, to, this.#columns[c]!);
    }
    this.#rows += to - from;
  }

  batch(): EncodedBatch {
    return { kind: this.#kind, rows: this.#rows, columns: this.#columns };
  }

  /**
   * The columns of request records, the kind written per request, read with
   * named property loads in one pass over the rows (the generic path pays a
   * keyed load and a conversion switch per value). The same values as
   * `columnOf` over `TABLES.records` (a test holds them equal).
   */
  #addRecords(rows: readonly RequestRecord[], from: number, to: number): void {
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
    ] = this.#columns;
    const json = this.#json;
    const [paramsJson, profileJson, eventsJson] = [json[4]!, json[14]!, json[16]!];
    for (let i = from; i < to; i++) {
      const r = rows[i]!;
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
  }
}

/** One column of any kind for `rows[from, to)`, as toColumnValue has it, pushed onto `out`. */
function columnOf(
  col: Column,
  json: ((v: unknown) => string) | undefined,
  rows: readonly object[],
  from: number,
  to: number,
  out: unknown[],
): void {
  if (json !== undefined) {
    for (let i = from; i < to; i++)
      out.push(json((rows[i] as Record<string, unknown>)[col.field] ?? col.dflt));
  } else for (let i = from; i < to; i++) out.push(toColumnValue(col, rows[i]!));
}
