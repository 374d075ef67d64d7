/**
 * Store options, parsed once at the edge (STYLE.md): unknown keys are
 * rejected, every problem is reported in one InputError with code
 * InvalidOptions, and the result is frozen and fully required.
 */
import { ErrorCode, InputError, invalidField, mergeOptions, optionsError } from '../lib/index.ts';
import type { OptionSchema } from '../lib/index.ts';

const DAY_MS = 86_400_000;

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
  };
}

type Parser = (v: unknown, field: string) => unknown;

const nonEmpty: Parser = (v, field) => {
  if (typeof v !== 'string' || v === '') throw invalidField(field, 'a non-empty string', v);
  return v;
};
const anyString: Parser = (v, field) => {
  if (typeof v !== 'string') throw invalidField(field, 'a string', v);
  return v;
};
const positiveMs: Parser = (v, field) => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
    throw invalidField(field, 'a positive integer', v);
  return v;
};
const identifier: Parser = (v, field) => {
  if (typeof v !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(v)) {
    throw invalidField(field, 'an identifier ([A-Za-z_][A-Za-z0-9_]*)', v);
  }
  return v;
};
const httpUrl: Parser = (v, field) => {
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
  return v;
};

function compile<T extends object>(
  name: string,
  schema: Record<keyof T, Parser>,
  required: readonly (keyof T & string)[],
  defaults: Partial<T>,
  input: unknown,
): Readonly<T> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InputError(
      ErrorCode.InvalidOptions,
      `${name} must be an object, got ${JSON.stringify(input)}`,
      {
        field: name,
      },
    );
  }
  const { values, problems } = mergeOptions(
    name,
    schema as OptionSchema<T>,
    defaults,
    [input as Record<string, unknown>],
    required,
  );
  if (problems.length > 0) throw optionsError(problems);
  return Object.freeze(values as T);
}

/** Validates DuckDB store options; throws one InputError (InvalidOptions) naming every bad field. */
export function compileDuckDbStoreOptions(input: unknown): Readonly<DuckDbStoreOptions> {
  return compile<DuckDbStoreOptions>(
    'duckdb',
    { path: nonEmpty, retentionMs: positiveMs },
    ['path'],
    defaultDuckDbStoreOptions(),
    input,
  );
}

/** Validates ClickHouse store options; throws one InputError (InvalidOptions) naming every bad field. */
export function compileClickHouseStoreOptions(input: unknown): Readonly<ClickHouseStoreOptions> {
  return compile<ClickHouseStoreOptions>(
    'clickhouse',
    {
      url: httpUrl,
      database: identifier,
      username: nonEmpty,
      password: anyString,
      requestTimeoutMs: positiveMs,
      retentionMs: positiveMs,
    },
    ['url'],
    defaultClickHouseStoreOptions(),
    input,
  );
}

export { compile as compileStoreOptions };
export type { Parser as StoreOptionParser };
export { positiveMs as optPositiveInt, nonEmpty as optNonEmptyString };
