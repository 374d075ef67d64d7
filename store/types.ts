/**
 * The rows that Headroom keeps and the one interface every store adapter
 * implements. Every row arrives already anonymised (lib/privacy): a token is
 * a keyed hash, never the raw key, and no raw user id, e-mail or IP exists in
 * any field.
 */
import type { CollectedBucket, CollectedRecord } from '../lib/index.ts';

/** Bucket resolutions the collector writes. */
export const Resolution = {
  Second: '1s',
  Minute: '1m',
} as const;
export type Resolution = (typeof Resolution)[keyof typeof Resolution];

/** One decided request (allowed or denied), anonymised, as the collector builds it. */
export type RequestRecord = CollectedRecord;

/**
 * A token's counts in one bucket, as one source (collector) counted them.
 * `(token, resolution, startMs, source)` is the key: writing the same key
 * again replaces the row (the latest write wins), so a replayed batch never
 * double-counts; rows of different sources for the same bucket are parts of
 * it (a token whose owner changed mid-bucket) and every read sums them.
 */
export interface BucketRow extends CollectedBucket {
  /**
   * The collector that counted the row (node id and boot). Reads that sum
   * sources leave it absent.
   * @default ""
   */
  source?: string;
}

/** One external event signal (news volume, launch, ...). */
export interface EventRow {
  id: string;
  source: string;
  topic: string;
  timeMs: number;
  value: number;
  tokens: string[];
}

/**
 * The events of one topic in one step (see `eventLevels`): features a model
 * reads next to a token's buckets. An empty step has `count` and `sum` 0 and
 * `max` and `last` null (a model that wants a level carries `last` forward).
 */
export interface EventLevelRow {
  topic: string;
  /** Start of the step: `floor(t / stepMs) * stepMs`. */
  startMs: number;
  /** Events in the step. */
  count: number;
  /** Sum of their values: a volume per step. */
  sum: number;
  /** Largest value in the step; null when it has none. */
  max: number | null;
  /** Value of the step's latest event (by time, then id); null when it has none. */
  last: number | null;
}

/** A quantile forecast; `(token, model, madeMs, horizonMs)` is the key. */
export interface ForecastRow {
  token: string;
  madeMs: number;
  horizonMs: number;
  targetMs: number;
  p10: number;
  p50: number;
  p90: number;
  model: string;
}

/** An allocation decision of a pool manager. */
export interface DecisionRow {
  id: string;
  timeMs: number;
  pool: string;
  kind: string;
  token?: string;
  amount: number;
  /** JSON text. */
  detail: string;
}

/**
 * Written when the hash key rotates: the token that was `fromToken` under the
 * old key is `toToken` under the new one. Queries by `toToken` also read the
 * rows stored under `fromToken`, so a token's series stays continuous.
 */
export interface TokenLinkRow {
  fromToken: string;
  toToken: string;
  timeMs: number;
}

/** What {@link Batcher} can batch: the kind names the insert method. */
export const RowKind = {
  Records: 'records',
  Buckets: 'buckets',
  Events: 'events',
  Forecasts: 'forecasts',
  Decisions: 'decisions',
  Links: 'links',
} as const;
export type RowKind = (typeof RowKind)[keyof typeof RowKind];

/** The row type of each kind. */
export interface RowOf {
  records: RequestRecord;
  buckets: BucketRow;
  events: EventRow;
  forecasts: ForecastRow;
  decisions: DecisionRow;
  links: TokenLinkRow;
}

/**
 * A time-series store. Ranges are half-open, `[fromMs, toMs)`. Inserts are
 * idempotent by each kind's key, so a batch may be replayed safely; reads
 * are exact even when the backend has not yet merged duplicates.
 */
export interface TimeSeriesStore {
  /** Creates the database and tables when absent. Idempotent. */
  init(): Promise<void>;
  insertRecords(rows: readonly RequestRecord[]): Promise<void>;
  insertBuckets(rows: readonly BucketRow[]): Promise<void>;
  insertEvents(rows: readonly EventRow[]): Promise<void>;
  insertForecasts(rows: readonly ForecastRow[]): Promise<void>;
  insertDecisions(rows: readonly DecisionRow[]): Promise<void>;
  insertLinks(rows: readonly TokenLinkRow[]): Promise<void>;
  /**
   * A token's buckets (and those of the tokens linked to it by key rotation)
   * summed to `stepMs` (a multiple of 1000): one row per step from
   * `floor(fromMs / stepMs) * stepMs` while the start is below `toMs`,
   * zero-filled. Reads 1-minute rows when `stepMs` is a multiple of 60 000,
   * else 1-second rows; `resolution` says which.
   */
  tokenBuckets(token: string, fromMs: number, toMs: number, stepMs: number): Promise<BucketRow[]>;
  /**
   * The requests of several tokens per step, in one read: one array per
   * token of `tokens` (in its order, a repeated token repeated), each what
   * `tokenBuckets` gives that token as `requests`: the same steps, zeros
   * included, the same resolution, and the rows of the tokens linked to it.
   * Each series has at most MAX_STEPS steps, and all of them together at
   * most MAX_SERIES_VALUES values (a token counts one when the range has
   * no step). A store on a worker thread moves the arrays' buffers.
   * @example const [a, b] = await store.tokenSeries(['tA', 'tB'], fromMs, toMs, 1000);
   */
  tokenSeries(
    tokens: readonly string[],
    fromMs: number,
    toMs: number,
    stepMs: number,
  ): Promise<Float64Array[]>;
  /** Tokens with a record or bucket in the range, each named by its latest link, sorted. */
  activeTokens(fromMs: number, toMs: number): Promise<string[]>;
  /** Events in the range, optionally of one topic, by time then id. */
  events(fromMs: number, toMs: number, topic?: string): Promise<EventRow[]>;
  /**
   * Events summed per topic into steps of `stepMs` (a multiple of 1000),
   * aligned as `tokenBuckets` aligns them: one row per topic and step from
   * `floor(fromMs / stepMs) * stepMs` while the start is below `toMs`, empty
   * steps included. Topics are those with an event in the aligned range (or
   * only `topic`, given even when it has none), sorted; rows by topic, then
   * start. At most MAX_STEPS rows in all.
   */
  eventLevels(fromMs: number, toMs: number, stepMs: number, topic?: string): Promise<EventLevelRow[]>;
  /** Forecasts whose target falls in the range, by target, horizon, model, made. */
  forecasts(token: string, fromMs: number, toMs: number): Promise<ForecastRow[]>;
  /** Request records in the range, by time then id (for audits and tests). */
  records(fromMs: number, toMs: number): Promise<RequestRecord[]>;
  /** Decisions in the range, by time then id. */
  decisions(fromMs: number, toMs: number): Promise<DecisionRow[]>;
  /** Drops every day that ended at least `retentionMs` before `nowMs`. */
  enforceRetention(nowMs: number): Promise<void>;
  close(): Promise<void>;
  /** The table names, for privacy scans. */
  tables(): string[];
  /** Every row of every table as text (JSON lines), for privacy scans. */
  dumpAll(): Promise<string>;
}
