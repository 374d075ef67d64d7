// Entry file of store/: the time-series store interface, its DuckDB and
// ClickHouse adapters, and the batcher with its disk spool.
// Values first, then types. Other folders import this file, never deep paths.
export { Resolution, RowKind } from './types.ts';
export { createDuckDbStore } from './duckdb-store.ts';
export { createClickHouseStore } from './clickhouse-store.ts';
export { createWorkerStore, WorkerStore } from './worker-store.ts';
export { adapterFor, serveStore } from './store-host.ts';
export { chString, createTableSql } from './clickhouse-schema.ts';
export {
  compileDuckDbStoreOptions,
  compileClickHouseStoreOptions,
  defaultDuckDbStoreOptions,
  defaultClickHouseStoreOptions,
} from './options.ts';
export { Batcher, MAX_QUEUED_ROWS, MAX_SPILLING_ROWS } from './batcher.ts';
export { defaultBatcherOptions, compileBatcherOptions } from './batcher-options.ts';
export { Spool } from './spool.ts';
export { MAX_SERIES_VALUES, MAX_STEPS, retentionCutoffMs } from './shared.ts';
export { INSERT_METHOD } from './row-inserts.ts';

export type {
  RequestRecord,
  BucketRow,
  EventRow,
  EventLevelRow,
  ForecastRow,
  DecisionRow,
  TokenLinkRow,
  RowOf,
  TimeSeriesStore,
} from './types.ts';
export type { DuckDbStoreOptions, ClickHouseStoreOptions } from './options.ts';
export type { StoreTarget, WorkerHost, WorkerNotice, WorkerStart } from './worker-store.ts';
export type { StoreHostExtras } from './store-host.ts';
export type { EncodedSink } from './encoded.ts';
export type { BatcherOptions, BatcherStats } from './batcher-options.ts';
export type { SpoolBatch, SpoolEntry, SpoolRead } from './spool.ts';
