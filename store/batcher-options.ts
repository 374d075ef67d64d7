/**
 * Options and counters of the {@link Batcher}, parsed the STYLE.md way
 * (unknown keys rejected, every problem in one InvalidOptions error).
 */
import { SystemClock, compileOptionsObject, optClock, optPositiveInt, optString } from '../lib/index.ts';
import type { Clock } from '../lib/index.ts';

/** Options of {@link Batcher}. */
export interface BatcherOptions {
  /** Flush a kind when this many rows wait. @default 1000 */
  maxRows: number;
  /** Flush at most this long after the first waiting row. @default 1000 */
  maxDelayMs: number;
  /** Folder of the spool files. Required. */
  spoolDir: string;
  /** Bound on the spool file. @default 256 MiB */
  spoolMaxBytes: number;
  /** First retry delay after a failed insert; doubles per failure. @default 500 */
  retryBaseMs: number;
  /** Longest retry delay. @default 30_000 */
  retryMaxMs: number;
  /** @default new SystemClock() */
  clock: Clock;
}

export function defaultBatcherOptions(): Omit<BatcherOptions, 'spoolDir'> {
  return {
    maxRows: 1000,
    maxDelayMs: 1000,
    spoolMaxBytes: 256 * 1024 * 1024,
    retryBaseMs: 500,
    retryMaxMs: 30_000,
    clock: new SystemClock(),
  };
}

/** Counters since construction. */
export interface BatcherStats {
  /** Rows `add` took. */
  accepted: number;
  /** Rows inserted straight from a buffer. */
  inserted: number;
  /** Batches the store took (from a buffer, the spool or the overflow). */
  batches: number;
  /** Rows written to the spool (the store failed, or was behind by more than MAX_QUEUED_ROWS). */
  spooled: number;
  /** Rows inserted from the spool (or the in-memory overflow). */
  replayed: number;
  /** Bytes of the spool file. */
  spoolBytes: number;
  /** Batches waiting in the spool to be replayed. */
  spoolBatches: number;
  /** Failed insert attempts. */
  failures: number;
  /** `add` calls refused with SpoolFull. */
  spoolFull: number;
  /** Spool lines skipped as corrupt (torn write or bad checksum). */
  corrupt: number;
  /** Rows buffered or held in memory, not yet in the store or the spool. */
  pendingRows: number;
  /** Message of the latest failure, if any. */
  lastError: string | null;
}

/** Validates batcher options; throws one InputError (InvalidOptions) naming every bad field. */
export function compileBatcherOptions(input: unknown): Readonly<BatcherOptions> {
  return compileOptionsObject<BatcherOptions>(
    'batcher',
    {
      maxRows: optPositiveInt,
      maxDelayMs: optPositiveInt,
      spoolDir: optString,
      spoolMaxBytes: optPositiveInt,
      retryBaseMs: optPositiveInt,
      retryMaxMs: optPositiveInt,
      clock: optClock,
    },
    defaultBatcherOptions(),
    input,
    ['spoolDir'],
  );
}
