/**
 * The one insert path. {@link TimeSeriesStore} names an insert per row kind
 * (`insertRecords` ... `insertLinks`: what the batcher and the services
 * call); every adapter writes them alike: rows deduplicated and encoded by
 * column (encoded.ts), then the encoded batch written (or, for the worker
 * store, posted to its thread).
 */
import { encodeRows, type EncodedBatch, type EncodedSink } from './encoded.ts';
import type { RowKind, RowOf, TimeSeriesStore } from './types.ts';

/** The {@link TimeSeriesStore} method that inserts each kind of row. */
export const INSERT_METHOD = {
  records: 'insertRecords',
  buckets: 'insertBuckets',
  events: 'insertEvents',
  forecasts: 'insertForecasts',
  decisions: 'insertDecisions',
  links: 'insertLinks',
} as const satisfies { [K in RowKind]: keyof TimeSeriesStore };

/** The named inserts of a store. */
export type RowInserts = Pick<TimeSeriesStore, (typeof INSERT_METHOD)[RowKind]>;

/** Inserts `rows` of `kind` into any store (an adapter or a wrapper) through its named method. */
export function insertInto<K extends RowKind>(
  store: RowInserts,
  kind: K,
  rows: readonly RowOf[K][],
): Promise<void> {
  const insert = store[INSERT_METHOD[kind]] as (rows: readonly RowOf[K][]) => Promise<void>;
  return insert.call(store, rows);
}

/**
 * Base of the adapters: each named insert is {@link insertRows}, which
 * encodes the rows and hands them to the adapter's `insertEncoded`. An
 * empty insert writes nothing; a row that cannot be encoded rejects the
 * returned promise (it never throws synchronously).
 */
export abstract class EncodedInserts implements RowInserts, EncodedSink {
  /** Writes a batch encoded (and deduplicated) by `encodeRows`. */
  abstract insertEncoded(batch: EncodedBatch): Promise<void>;

  /** The one generic insert: any kind, its rows deduplicated and encoded by column. */
  insertRows<K extends RowKind>(kind: K, rows: readonly RowOf[K][]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    let batch: EncodedBatch;
    try {
      batch = encodeRows(kind, rows);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return this.insertEncoded(batch);
  }

  // The names TimeSeriesStore gives the kinds, for callers that hold a kind statically.
  insertRecords(rows: readonly RowOf['records'][]): Promise<void> {
    return this.insertRows('records', rows);
  }
  insertBuckets(rows: readonly RowOf['buckets'][]): Promise<void> {
    return this.insertRows('buckets', rows);
  }
  insertEvents(rows: readonly RowOf['events'][]): Promise<void> {
    return this.insertRows('events', rows);
  }
  insertForecasts(rows: readonly RowOf['forecasts'][]): Promise<void> {
    return this.insertRows('forecasts', rows);
  }
  insertDecisions(rows: readonly RowOf['decisions'][]): Promise<void> {
    return this.insertRows('decisions', rows);
  }
  insertLinks(rows: readonly RowOf['links'][]): Promise<void> {
    return this.insertRows('links', rows);
  }
}
