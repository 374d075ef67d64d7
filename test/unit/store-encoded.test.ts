import test from 'ava';
import { TABLES, toColumnValue } from '../../store/columns.ts';
import { encodeRows, encodeRowsSliced } from '../../store/encoded.ts';
import type { RequestRecord } from '../../store/index.ts';

const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);

function rec(i: number, extra: Partial<RequestRecord> = {}): RequestRecord {
  return {
    id: `r${i}`,
    timeMs: T0 + i,
    token: `k1.${i % 3}`,
    params: { op: 'read' },
    allow: i % 2 === 0,
    ruleId: 'per-user',
    cost: 1.5,
    secondOfMinute: i % 60,
    minuteOfHour: 1,
    hourOfDay: 12,
    dayOfWeek: 5,
    dayOfYear: 324,
    holiday: false,
    profile: { tier: 'gold' },
    events: { 'news:launch': 0.5 },
    ...extra,
  };
}

test('store encoding - records encode as the generic column conversion does, first write of an id kept', (t) => {
  const shared = { op: 'write' };
  const rows = [
    rec(0, { op: 'read', region: 'eu-west' }),
    rec(1, { ruleId: null, params: shared }),
    rec(2, { params: shared, profile: {}, events: {} }),
    rec(0, { cost: 99 }), // a duplicate id: the first write stands
  ];
  const batch = encodeRows('records', rows);
  t.is(batch.kind, 'records');
  t.is(batch.rows, 3);
  const expected = TABLES.records.columns.map((col) => rows.slice(0, 3).map((r) => toColumnValue(col, r)));
  t.deepEqual(batch.columns, expected);
  t.is(batch.columns[TABLES.records.columns.findIndex((c) => c.field === 'op')]![1], null);
  t.is(batch.columns[TABLES.records.columns.findIndex((c) => c.field === 'params')]![1], '{"op":"write"}');
});

test('store encoding - replacing keys keep the last write; absent fields take their column default', (t) => {
  const bucket = { token: 'k1.a', resolution: '1s' as const, startMs: T0, allowed: 1, denied: 0, cost: 1 };
  const batch = encodeRows('buckets', [
    { ...bucket, requests: 1 },
    { ...bucket, requests: 2 },
  ]);
  t.is(batch.rows, 1);
  const col = (field: string): unknown[] =>
    batch.columns[TABLES.buckets.columns.findIndex((c) => c.field === field)]!;
  t.deepEqual(col('requests'), [2]);
  t.deepEqual(col('source'), ['']);
});

test('store encoding - in slices: the same batch as in one go, duplicates across slices included', async (t) => {
  const rows: RequestRecord[] = [];
  for (let i = 0; i < 1500; i++) rows.push(rec(i % 1100, { cost: i }));
  // sliceMs 0: a yield after every slice of rows, so the key map and the JSON caches span slices.
  t.deepEqual(await encodeRowsSliced('records', rows, 0), encodeRows('records', rows));
  const forecasts = [];
  for (let i = 0; i < 900; i++) {
    const horizonMs = [5000, 30000, 300000][i % 3]!;
    forecasts.push({
      token: `k.${i % 250}`,
      madeMs: T0,
      horizonMs,
      targetMs: T0 + horizonMs,
      p10: i,
      p50: i,
      p90: i,
      model: 'hybrid',
    });
  }
  const sliced = await encodeRowsSliced('forecasts', forecasts, 0);
  t.deepEqual(sliced, encodeRows('forecasts', forecasts));
  t.is(sliced.rows, 750, 'replacing keys: the last write of each kept');
});

test('store encoding - in slices: a row that cannot be encoded rejects, it does not throw', async (t) => {
  const cyclic: Record<string, unknown> = {};
  cyclic['self'] = cyclic;
  const rows = [rec(0), rec(1, { params: cyclic as RequestRecord['params'] })];
  t.throws(() => encodeRows('records', rows));
  const p = encodeRowsSliced('records', rows);
  await t.throwsAsync(p, { instanceOf: TypeError });
});
