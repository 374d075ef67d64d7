/**
 * What a {@link Collector} is built from: its dependencies (objects it calls,
 * typed and passed as they are) and its options (values, compiled with
 * lib/options.ts: an unknown or misspelt key is an InvalidOptions error that
 * names it).
 */
import {
  compileOptionsObject,
  optFiniteAtLeast,
  optPositiveInt,
  optPositiveMs,
  optStrictInt,
  optString,
} from '../lib/index.ts';
import type { Clock, EventSignals, HolidayCalendar, OptionSchema } from '../lib/index.ts';
import type { PrivacyPipeline } from '../lib/privacy/index.ts';
import type { Batcher } from '../store/index.ts';
import type { ProfileProvider } from './profiles.ts';

/** Where the collector logs: never a raw value, only counts and codes. */
export interface CollectorLogger {
  warn(...args: unknown[]): void;
}

/** The collector's dependencies. */
export interface CollectorDeps {
  pipeline: PrivacyPipeline;
  batcher: Batcher;
  clock: Clock;
  logger: CollectorLogger;
  /** @default no holidays */
  holidays?: HolidayCalendar;
  /** @default noProfiles */
  profiles?: ProfileProvider;
  /** @default a fresh EventSignals with a 5 min half-life */
  signals?: EventSignals;
  /** Called when rows are refused or dropped (a metric hook). */
  onLoss?: (kind: 'queue' | 'spool', rows: number) => void;
  /** Uniform numbers in [0, 1) that choose the records kept under `recordsPerTokenSecond` (seeded in tests). @default Math.random */
  random?: () => number;
}

/** Options of a {@link Collector}. */
export interface CollectorOptions {
  /** Parameter whose value names the user for the profile provider. @default "user" */
  profileParam: string;
  /**
   * The node id: bucket rows carry it (with a per-start suffix) as their
   * source, so that the parts two owners of a token wrote sum. @default "local"
   */
  source: string;
  /** Refunds are awaited this long after a bucket closes. @default 2000 */
  graceMs: number;
  /**
   * How often queued decisions are processed. Short, so that a queued
   * decision (and the request it references) is gone before the next
   * young-generation collection (every few tens of ms under load) would
   * promote it to the old space: with 200 ms, most were, and the collection's
   * garbage-collection work was several times larger. @default 20
   */
  tickMs: number;
  /** Most queued decisions; beyond, they are counted as dropped. @default 200000 */
  maxQueue: number;
  /**
   * Most behavioural records per token and second; 0 writes one per decision.
   * Beyond it, a uniform sample of the second's decisions is written (the
   * rest are counted as `recordsSampledOut`); the 1 s and 1 min buckets still
   * count every decision, and refunds still correct them. Nothing in a node
   * reads records back (the models train from buckets): they are the
   * behavioural archive, and 20 a second (72,000 an hour) describes a token's
   * traffic as well as 100 do, at a fifth of the store and of the collection
   * worker's record work for a token at 100 req/s. A token below 20 req/s
   * keeps every record. @default 20
   */
  recordsPerTokenSecond: number;
}

/** The defaults of {@link CollectorOptions}, as a fresh object. */
export function defaultCollectorOptions(): CollectorOptions {
  return {
    profileParam: 'user',
    source: 'local',
    graceMs: 2000,
    tickMs: 20,
    maxQueue: 200_000,
    recordsPerTokenSecond: 20,
  };
}

const SCHEMA: OptionSchema<CollectorOptions> = {
  profileParam: optString,
  source: optString,
  graceMs: optFiniteAtLeast(0),
  tickMs: optPositiveMs,
  maxQueue: optPositiveInt,
  recordsPerTokenSecond: optStrictInt(0, 1_000_000),
};

/**
 * Compiles collector options over the defaults: unknown keys and bad values
 * are one InputError (code InvalidOptions) naming each; the result is frozen.
 */
export function compileCollectorOptions(input: Partial<CollectorOptions> = {}): Readonly<CollectorOptions> {
  return compileOptionsObject('collector', SCHEMA, defaultCollectorOptions(), input);
}
