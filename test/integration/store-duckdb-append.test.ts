// The DuckDB store writes batches by data chunks (store/duckdb-chunks.ts):
// every column type reads back as the per-value appender calls it replaced
// wrote it (NULLs, int64 extremes, unicode, JSON, lists, repeats, batches
// of several chunks), values the appender refused are refused, and a
// refused batch leaves nothing behind.
import test from 'ava';
import { DuckDBInstance, LIST, VARCHAR, type DuckDBAppender, type DuckDBConnection } from '@duckdb/node-api';
import type { Column, ColumnType } from '../../store/columns.ts';
import { ColumnChunks } from '../../store/duckdb-chunks.ts';
import { encodeRows } from '../../store/encoded.ts';
import { createDuckDbStore, type EventRow, type RequestRecord } from '../../store/index.ts';

const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);

/** One column of each type (twice for VARCHAR: once as a unique column), all nullable. */
const COLUMNS: Column[] = (
  [
    ['seq', 'int'],
    ['id', 'str'],
    ['s', 'str'],
    ['ns', 'nstr'],
    ['i', 'int'],
    ['sm', 'small'],
    ['f', 'float'],
    ['b', 'bool'],
    ['j', 'json'],
    ['l', 'list'],
  ] as [string, ColumnType][]
).map(([col, type]) => ({ col, field: col, type }));

const SQL: Record<ColumnType, string> = {
  str: 'VARCHAR',
  nstr: 'VARCHAR',
  int: 'BIGINT',
  small: 'INTEGER',
  float: 'DOUBLE',
  bool: 'BOOLEAN',
  json: 'VARCHAR',
  list: 'VARCHAR[]',
};

const STRINGS = [
  '',
  'a',
  'a\u0000b', // NUL kept: both paths write by length
  'twelve bytes', // 12 bytes: inlined in the string_t
  'thirteen byte', // 13: on the chunk's string heap
  '日本語のテキスト',
  '👩‍👩‍👧 family, ZWJ and all',
  'e\u0301 combining',
  '\ud800 lone surrogate', // both write U+FFFD
  'x'.repeat(300),
];
const INTS = [
  0,
  -0,
  1,
  -1,
  1.9, // truncated
  -1.9,
  2 ** 31,
  2 ** 32 + 7,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  2 ** 53, // past the safe range: BigInt
  2 ** 60 + 2 ** 9,
  -(2 ** 63), // int64's least
  2 ** 63 - 2 ** 10, // the greatest double below 2 ** 63
];
const SMALLS = [0, -0, 1, -1, 65_535, 2 ** 31 - 1, -(2 ** 31)];
const FLOATS = [0, -0, 0.1, -1.5, 5e-324, Number.MAX_VALUE, Number.NaN, Infinity, -Infinity, 1e300];
const JSONS = [
  JSON.stringify({}),
  JSON.stringify({ op: 'GetItem', plan: 'pro' }),
  JSON.stringify({ ключ: 'значение', emoji: '🎉', q: 'a"b\\c', nl: 'a\nb' }),
];
const LISTS = [[], ['a'], ['日本', '', 'x'.repeat(40)], ['a\u0000b', '🎉']];

/**
 * Rows in columns: values cycle at different periods (so that strings
 * repeat within a chunk, and long ones too; rows 0-13 hold each listed
 * value once), NULLs in every column in the first chunk and the third,
 * none in the second (a reused chunk must not keep a NULL).
 */
function batch(rows: number): unknown[][] {
  const cols: unknown[][] = COLUMNS.map(() => []);
  const pick = <T>(xs: readonly T[], i: number): T => xs[i % xs.length]!;
  for (let r = 0; r < rows; r++) {
    const nulls = r > 40 && (r < 2048 || r >= 4096) && r % 11 === 3;
    const v = [
      r,
      `id-${r}`,
      pick(STRINGS, r),
      nulls ? undefined : pick(STRINGS, r * 7 + 3),
      pick(INTS, r),
      pick(SMALLS, r),
      pick(FLOATS, r),
      r % 3 === 0,
      pick(JSONS, r),
      pick(LISTS, r),
    ];
    v.forEach((x, c) => cols[c]!.push(nulls && c > 0 ? null : x));
  }
  return cols;
}

/** The peer: what the store wrote before chunks, one appender call per value. */
function appendPerValue(a: DuckDBAppender, cols: readonly (readonly unknown[])[], rows: number): void {
  for (let r = 0; r < rows; r++) {
    COLUMNS.forEach((col, c) => {
      const v = cols[c]![r];
      if (v === null || v === undefined) return a.appendNull();
      switch (col.type) {
        case 'int':
          return a.appendBigInt(BigInt(Math.trunc(v as number)));
        case 'small':
          return a.appendInteger(v as number);
        case 'float':
          return a.appendDouble(v as number);
        case 'bool':
          return a.appendBoolean(v as boolean);
        case 'list':
          return a.appendList((v as string[]).map(String), LIST(VARCHAR));
        default:
          return a.appendVarchar(String(v));
      }
    });
    a.endRow();
  }
}

async function withConn(fn: (conn: DuckDBConnection) => Promise<void>): Promise<void> {
  const inst = await DuckDBInstance.create(':memory:');
  const conn = await inst.connect();
  try {
    await fn(conn);
  } finally {
    conn.closeSync();
    inst.closeSync();
  }
}

async function table(conn: DuckDBConnection, name: string): Promise<void> {
  await conn.run(`CREATE TABLE ${name} (${COLUMNS.map((c) => `${c.col} ${SQL[c.type]}`).join(', ')})`);
}

async function readAll(conn: DuckDBConnection, name: string): Promise<Record<string, unknown>[]> {
  return (await conn.runAndReadAll(`SELECT * FROM ${name} ORDER BY seq`)).getRowObjectsJS();
}

async function appendChunks(conn: DuckDBConnection, name: string, chunks: ColumnChunks, cols: unknown[][]) {
  const a = await conn.createAppender(name);
  try {
    chunks.appendTo(a, cols, cols[0]!.length);
    a.flushSync();
  } catch (err) {
    a.clear();
    throw err;
  } finally {
    a.closeSync();
  }
}

test('duckdb chunks - every column type reads back as the per-value appender wrote it', async (t) => {
  await withConn(async (conn) => {
    const cols = batch(5000); // three chunks: 2048, 2048, 904
    await table(conn, 'peer');
    await table(conn, 'chunked');
    const a = await conn.createAppender('peer');
    appendPerValue(a, cols, 5000);
    a.flushSync();
    a.closeSync();
    const chunks = new ColumnChunks(COLUMNS, 'id');
    await appendChunks(conn, 'chunked', chunks, cols);
    const peer = await readAll(conn, 'peer');
    const got = await readAll(conn, 'chunked');
    t.is(got.length, 5000);
    t.deepEqual(got, peer); // -0, NaN and bigints compared as values

    // And as literals: the extremes, strings and NULLs.
    const at = (r: number): Record<string, unknown> => got[r]!;
    const ints = got.slice(0, INTS.length).map((row) => row['i']);
    t.deepEqual(ints, [
      0n,
      0n,
      1n,
      -1n,
      1n,
      -1n,
      2n ** 31n,
      2n ** 32n + 7n,
      2n ** 53n - 1n,
      -(2n ** 53n - 1n),
      2n ** 53n,
      2n ** 60n + 2n ** 9n,
      -(2n ** 63n),
      2n ** 63n - 2n ** 10n,
    ]);
    t.deepEqual(
      got.slice(0, SMALLS.length).map((row) => row['sm']),
      [0, 0, 1, -1, 65_535, 2 ** 31 - 1, -(2 ** 31)],
    );
    t.true(Object.is(at(1)['f'], -0));
    t.true(Number.isNaN(at(6)['f']));
    t.is(at(4)['f'], 5e-324);
    t.is(at(2)['s'], 'a\u0000b');
    t.is(at(6)['s'], '👩‍👩‍👧 family, ZWJ and all');
    t.is(at(8)['s'], '\ufffd lone surrogate');
    t.is(at(9)['s'], 'x'.repeat(300));
    t.deepEqual(JSON.parse(at(2)['j'] as string), { ключ: 'значение', emoji: '🎉', q: 'a"b\\c', nl: 'a\nb' });
    t.deepEqual(at(2)['l'], ['日本', '', 'x'.repeat(40)]);
    t.deepEqual(at(0)['l'], []);
    // NULLs: every column of row 47 (first chunk) and 4106 (third), none in the second chunk.
    for (const r of [47, 4106])
      t.deepEqual(
        COLUMNS.slice(1).map((c) => at(r)[c.col]),
        COLUMNS.slice(1).map(() => null),
      );
    t.false(got.slice(2048, 4096).some((row) => Object.values(row).includes(null)));
  });
});

test('duckdb chunks - values the appender refused are refused, and the chunk is clean afterwards', async (t) => {
  await withConn(async (conn) => {
    await table(conn, 'x');
    const chunks = new ColumnChunks(COLUMNS, 'id');
    const bad = (c: string, v: unknown): unknown[][] => {
      const cols = batch(3000);
      const col = cols[COLUMNS.findIndex((x) => x.col === c)]!;
      col[2400] = null; // a NULL in the second chunk (slot 352) before the refused value
      col[2500] = v;
      return cols;
    };
    const cases: [string, unknown, new (...a: never[]) => Error, RegExp][] = [
      ['i', 2 ** 63, RangeError, /^i must be a BIGINT \(int64\), got 9223372036854775808$/],
      ['i', -(2 ** 64), RangeError, /^i must be a BIGINT/],
      ['i', Number.NaN, RangeError, /cannot be converted to a BigInt/],
      ['sm', 1.5, RangeError, /^sm must be an INTEGER \(int32\), got 1.5$/],
      ['sm', 2 ** 31, RangeError, /^sm must be an INTEGER/],
      ['sm', '5', TypeError, /^sm must be a number, got string 5$/],
      ['f', '1.5', TypeError, /^f must be a number/],
      ['b', 1, TypeError, /^b must be a boolean, got number 1$/],
    ];
    for (const [c, v, instanceOf, message] of cases) {
      await t.throwsAsync(appendChunks(conn, 'x', chunks, bad(c, v)), { instanceOf, message }, `${c} = ${v}`);
    }
    // The first chunk of each went to the appender, which was cleared: no row.
    t.is((await readAll(conn, 'x')).length, 0);
    // A failure after a NULL must not leave that NULL to the next batch.
    await appendChunks(conn, 'x', chunks, batch(500));
    const rows = await readAll(conn, 'x');
    t.is(rows.length, 500);
    t.deepEqual(
      rows.flatMap((row, r) => (Object.values(row).includes(null) ? [r] : [])),
      rows.map((_, r) => r).filter((r) => r > 40 && r % 11 === 3), // batch()'s NULLs only
    );
  });
});

function record(i: number): RequestRecord {
  const r: RequestRecord = {
    id: `r${i}`,
    timeMs: T0 + i,
    token: `k1.${(i % 37).toString(16).padStart(40, '0')}`,
    params: { op: 'GetItem', city: 'Zürich 🏔' },
    allow: i % 3 !== 0,
    ruleId: i % 5 === 0 ? null : 'per-user',
    cost: i / 7,
    secondOfMinute: i % 60,
    minuteOfHour: 1,
    hourOfDay: 12,
    dayOfWeek: 5,
    dayOfYear: 324,
    holiday: i % 2 === 0,
    profile: { tier: 'gold' },
    events: i % 4 === 0 ? { 'news:launch': 1.5 } : {},
  };
  if (i % 2 === 0) r.op = 'GetItem';
  if (i % 3 === 0) r.region = 'eu-west';
  return r;
}

test('duckdb store - records and events of several chunks read back as written, NULLs absent', async (t) => {
  const s = createDuckDbStore({ path: ':memory:' });
  await s.init();
  const records = Array.from({ length: 4500 }, (_, i) => record(i));
  await s.insertRecords(records);
  t.deepEqual(await s.records(T0, T0 + 5000), records);
  const events: EventRow[] = Array.from({ length: 2100 }, (_, i) => ({
    id: `e${i}`,
    source: 'feed',
    topic: i % 2 === 0 ? 'launch' : 'sale',
    timeMs: T0 + i,
    value: i * 0.5,
    tokens: i % 3 === 0 ? [] : [`t${i}`, 'ünïcode'],
  }));
  await s.insertEvents(events);
  t.deepEqual(await s.events(T0, T0 + 5000), events);
  await s.close();
});

test('duckdb store - a refused batch writes nothing, and the next batch of that table is whole', async (t) => {
  const s = createDuckDbStore({ path: ':memory:' });
  await s.init();
  const bad = encodeRows(
    'records',
    Array.from({ length: 3000 }, (_, i) => record(i)),
  );
  bad.columns[7]![2900] = 'not a number'; // cost
  await t.throwsAsync(s.insertEncoded(bad), { instanceOf: TypeError, message: /^cost must be a number/ });
  t.deepEqual(await s.records(T0, T0 + 5000), []);
  const good = Array.from({ length: 50 }, (_, i) => record(i + 10_000));
  await s.insertRecords(good);
  t.deepEqual(await s.records(T0, T0 + 20_000), good);
  await s.close();
});

test('duckdb store - more tokens than query parameters are looked up through the token table', async (t) => {
  const s = createDuckDbStore({ path: ':memory:' });
  await s.init();
  const tokens = Array.from({ length: 100 }, (_, i) => `tok-${i}-ü`);
  await s.insertLinks(tokens.slice(0, 10).map((t, i) => ({ fromToken: t, toToken: `new-${i}`, timeMs: T0 })));
  await s.insertRecords(tokens.map((token, i) => ({ ...record(i), token })));
  const renamed = new Set(tokens.slice(0, 10));
  const expected = [
    ...tokens.filter((x) => !renamed.has(x)),
    ...tokens.slice(0, 10).map((_, i) => `new-${i}`),
  ];
  t.deepEqual(await s.activeTokens(T0, T0 + 1000), expected.sort());
  await s.close();
});
