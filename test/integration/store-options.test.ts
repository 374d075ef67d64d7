// Bad store options give one clear InputError (InvalidOptions) naming every bad field.
import test from 'ava';
import { ErrorCode, InputError, SimulatedClock } from '../../lib/index.ts';
import { createClickHouseStore, createDuckDbStore } from '../../store/index.ts';

test('store options - duckdb: missing path, bad retention, unknown key', (t) => {
  const err = t.throws(() => createDuckDbStore({ retentionMs: -5, pth: 'x' } as never), {
    instanceOf: InputError,
  });
  t.is(err?.code, ErrorCode.InvalidOptions);
  t.is(err?.field, 'duckdb.retentionMs');
  t.is(
    err?.message,
    'duckdb.retentionMs must be a positive integer, got -5; duckdb.pth is not a known option (known: path, retentionMs); duckdb.path is required',
  );
});

test('store options - clickhouse: bad url, database name and timeout in one error', (t) => {
  const err = t.throws(
    () => createClickHouseStore({ url: 'ftp://x', database: 'drop table;', requestTimeoutMs: 0 }),
    { instanceOf: InputError },
  );
  t.is(err?.code, ErrorCode.InvalidOptions);
  t.is(
    err?.message,
    'clickhouse.url must be an http(s) URL, got "ftp://x"; ' +
      'clickhouse.database must be an identifier ([A-Za-z_][A-Za-z0-9_]*), got "drop table;"; ' +
      'clickhouse.requestTimeoutMs must be a positive integer, got 0',
  );
  t.throws(() => createClickHouseStore(undefined as never), {
    instanceOf: InputError,
    message: 'clickhouse must be an object, got undefined',
  });
  t.throws(() => createClickHouseStore({}), {
    instanceOf: InputError,
    message: 'clickhouse.url is required',
  });
});

test('store options - good options need no server until init', (t) => {
  t.notThrows(() => createClickHouseStore({ url: 'http://127.0.0.1:1', database: 'headroom' }));
  t.notThrows(() => createDuckDbStore({ path: ':memory:' }));
});

test('store options - clickhouse takes a Clock for its row versions, and checks it', (t) => {
  t.notThrows(() => createClickHouseStore({ url: 'http://127.0.0.1:1', clock: new SimulatedClock(0) }));
  t.throws(() => createClickHouseStore({ url: 'http://127.0.0.1:1', clock: {} as never }), {
    instanceOf: InputError,
    message: /^clickhouse\.clock must be a Clock/,
  });
});
