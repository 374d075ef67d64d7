/**
 * Store options, compiled once at the edge with lib/options.ts (STYLE.md):
 * unknown keys are rejected, every problem is reported in one InputError
 * with code InvalidOptions, and the result is frozen and fully required.
 */
import {
  DAY_MS,
  SystemClock,
  compileOptionsObject,
  invalidField,
  optClock,
  optPositiveInt,
  optString,
} from '../lib/index.ts';
import type { Clock, OptionParser } from '../lib/index.ts';

/** Options of {@link createDuckDbStore}. */
export interface DuckDbStoreOptions {
  /** `':memory:'` or a database file (under the data folder). Required. */
  path: string;
  /** Days older than this are dropped by `enforceRetention`. @default 30 days */
  retentionMs: number;
}

/** Options of {@link createClickHouseStore}. */
export interface ClickHouseStoreOptions {
  /** HTTP URL of the server, e.g. `http://127.0.0.1:8123`. Required. */
  url: string;
  /** Database (created by `init`). @default 'headroom' */
  database: string;
  /** @default 'default' */
  username: string;
  /** @default '' */
  password: string;
  /** Per-request timeout. @default 10_000 */
  requestTimeoutMs: number;
  /** Days older than this are dropped by `enforceRetention`. @default 30 days */
  retentionMs: number;
  /**
   * Wall time for the row versions of replacing keys (they must grow across
   * process restarts). Stays on the caller's thread: a store on a worker
   * uses the system clock.
   * @default new SystemClock()
   */
  clock: Clock;
}

export function defaultDuckDbStoreOptions(): Omit<DuckDbStoreOptions, 'path'> {
  return { retentionMs: 30 * DAY_MS };
}

export function defaultClickHouseStoreOptions(): Omit<ClickHouseStoreOptions, 'url'> {
  return {
    database: 'headroom',
    username: 'default',
    password: '',
    requestTimeoutMs: 10_000,
    retentionMs: 30 * DAY_MS,
    clock: new SystemClock(),
  };
}

const anyString: OptionParser<string> = (v, field) => {
  if (typeof v !== 'string') throw invalidField(field, 'a string', v);
  return v;
};
const identifier: OptionParser<string> = (v, field) => {
  if (typeof v !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(v)) {
    throw invalidField(field, 'an identifier ([A-Za-z_][A-Za-z0-9_]*)', v);
  }
  return v;
};
const httpUrl: OptionParser<string> = (v, field) => {
  let ok = false;
  if (typeof v === 'string') {
    try {
      const u = new URL(v);
      ok = u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      ok = false;
    }
  }
  if (!ok) throw invalidField(field, 'an http(s) URL', v);
  return v as string;
};

/** Validates DuckDB store options; throws one InputError (InvalidOptions) naming every bad field. */
export function compileDuckDbStoreOptions(input: unknown): Readonly<DuckDbStoreOptions> {
  return compileOptionsObject<DuckDbStoreOptions>(
    'duckdb',
    { path: optString, retentionMs: optPositiveInt },
    defaultDuckDbStoreOptions(),
    input,
    ['path'],
  );
}

/** Validates ClickHouse store options; throws one InputError (InvalidOptions) naming every bad field. */
export function compileClickHouseStoreOptions(input: unknown): Readonly<ClickHouseStoreOptions> {
  return compileOptionsObject<ClickHouseStoreOptions>(
    'clickhouse',
    {
      url: httpUrl,
      database: identifier,
      username: optString,
      password: anyString,
      requestTimeoutMs: optPositiveInt,
      retentionMs: optPositiveInt,
      clock: optClock,
    },
    defaultClickHouseStoreOptions(),
    input,
    ['url'],
  );
}
