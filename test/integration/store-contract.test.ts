// One contract, two adapters: the same inputs give the same query results on
// DuckDB (in-process) and on a real ClickHouse server started by this file.
import test from 'ava';
import { DAY_MS, InputError } from '../../lib/index.ts';
import {
  MAX_SERIES_VALUES,
  createClickHouseStore,
  createDuckDbStore,
  createWorkerStore,
  type BucketRow,
  type DecisionRow,
  type EventRow,
  type ForecastRow,
  type RequestRecord,
  type TimeSeriesStore,
} from '../../store/index.ts';
import { startClickHouseServer, type ClickHouseServer } from '../helpers/clickhouse-server.ts';
import { FIXTURE_KEYS, distinctIdRows, keysOf, readBack, storedRows } from '../helpers/store-readback.ts';

const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);
const RETENTION_MS = 2 * DAY_MS;

let server: ClickHouseServer | undefined;
const stores: Record<string, TimeSeriesStore> = {};

test.before(async () => {
  server = await startClickHouseServer();
  stores['duckdb'] = createDuckDbStore({ path: ':memory:', retentionMs: RETENTION_MS });
  stores['clickhouse'] = createClickHouseStore({
    url: server.url,
    database: 'contract',
    retentionMs: RETENTION_MS,
  });
  // The same adapters on a worker thread (how a node runs them): same answers, same errors.
  stores['duckdb on a worker'] = createWorkerStore({
    adapter: 'duckdb',
    options: { path: ':memory:', retentionMs: RETENTION_MS },
  });
  stores['clickhouse on a worker'] = createWorkerStore({
    adapter: 'clickhouse',
    options: { url: server.url, database: 'contract_worker', retentionMs: RETENTION_MS },
  });
  for (const s of Object.values(stores)) await s.init();
});

test.after.always(async () => {
  for (const s of Object.values(stores)) await s.close();
  await server?.dispose();
});

function record(i: number, token: string, extra: Partial<RequestRecord> = {}): RequestRecord {
  return {
    id: `r${i}`,
    timeMs: T0 + i * 1000,
    token,
    params: { op: 'read', tier: 'gold' },
    allow: i % 2 === 0,
    ruleId: i % 3 === 0 ? null : 'rule-1',
    cost: 1.5,
    secondOfMinute: i % 60,
    minuteOfHour: 0,
    hourOfDay: 12,
    dayOfWeek: 5,
    dayOfYear: 324,
    holiday: false,
    profile: { segment: 'smb' },
    events: { 'news:launch': 2.5 },
    ...extra,
  };
}

/** What `tokenBuckets` gives each token, as `tokenSeries` answers it: one requests array per token. */
async function perToken(
  s: TimeSeriesStore,
  tokens: readonly string[],
  fromMs: number,
  toMs: number,
  stepMs: number,
): Promise<Float64Array[]> {
  const out: Float64Array[] = [];
  for (const token of tokens) {
    out.push(Float64Array.from(await s.tokenBuckets(token, fromMs, toMs, stepMs), (r) => r.requests));
  }
  return out;
}

const sec = (token: string, i: number, requests: number): BucketRow => ({
  token,
  resolution: '1s',
  startMs: T0 + i * 1000,
  requests,
  allowed: requests - 1,
  denied: 1,
  cost: requests * 0.5,
});

async function load(s: TimeSeriesStore): Promise<void> {
  const buckets = Array.from({ length: 10 }, (_, i) => sec('tA', i, i + 1));
  await s.insertBuckets(buckets);
  await s.insertBuckets(buckets); // a replayed batch: no double count
  await s.insertBuckets([sec('tA', 3, 100)]); // a later write of the same bucket replaces it
  await s.insertBuckets([
    { token: 'tA', resolution: '1m', startMs: T0, requests: 60, allowed: 50, denied: 10, cost: 30 },
    { token: 'tA', resolution: '1m', startMs: T0 + 120_000, requests: 6, allowed: 6, denied: 0, cost: 3 },
  ]);
  // Key rotation: the same token was 'tA-old' under the previous key.
  await s.insertBuckets([sec('tA-old', -5, 7)]);
  await s.insertLinks([{ fromToken: 'tA-old', toToken: 'tA', timeMs: T0 }]);
  const recs = [record(1, 'tA', { op: 'read', region: 'eu' }), record(2, 'tB'), record(3, 'tA')];
  await s.insertRecords(recs);
  await s.insertRecords(recs.slice(1));
  await s.insertRecords([record(99, 'tOld', { timeMs: T0 - 5 * DAY_MS })]);
  const events: EventRow[] = [
    { id: 'e1', source: 'news', topic: 'launch', timeMs: T0 + 1000, value: 3, tokens: ['tA'] },
    { id: 'e2', source: 'trends', topic: 'sale', timeMs: T0 + 2000, value: 0.25, tokens: [] },
    { id: 'e3', source: 'news', topic: 'launch', timeMs: T0 + 3000, value: 5, tokens: ['tA', 'tB'] },
  ];
  await s.insertEvents(events);
  await s.insertEvents(events.slice(0, 1));
  const f = (madeMs: number, horizonMs: number, p50: number, model = 'lstm'): ForecastRow => ({
    token: 'tA',
    madeMs,
    horizonMs,
    targetMs: madeMs + horizonMs,
    p10: p50 - 1,
    p50,
    p90: p50 + 1,
    model,
  });
  await s.insertForecasts([f(T0, 5000, 10), f(T0, 30_000, 12), f(T0 + 1000, 5000, 11, 'bn')]);
  await s.insertForecasts([f(T0, 5000, 20)]);
  const d: DecisionRow = {
    id: 'd1',
    timeMs: T0,
    pool: 'db',
    kind: 'grant',
    token: 'tA',
    amount: 4,
    detail: '{"why":"p90"}',
  };
  await s.insertDecisions([
    d,
    { id: 'd2', timeMs: T0 + 1, pool: 'servers', kind: 'provision', amount: 1, detail: '{}' },
  ]);
  await s.insertDecisions([d]);
}

for (const name of ['duckdb', 'clickhouse', 'duckdb on a worker', 'clickhouse on a worker']) {
  test.serial(`store contract (${name}) - load fixtures idempotently`, async (t) => {
    const s = stores[name]!;
    await load(s);
    const [once, rowsOnce] = [await readBack(s, T0), await storedRows(s)];
    await load(s);
    t.deepEqual(await readBack(s, T0), once, 'a second load reads back the same');
    // Each key once, with its latest write (the tests below check every field).
    t.deepEqual(keysOf(once, T0), FIXTURE_KEYS);
    if (name.startsWith('duckdb')) {
      // One stored row per key: the second load leaves the tables exactly as they were.
      t.deepEqual(await storedRows(s), rowsOnce);
    } else {
      // ClickHouse keeps replayed rows until a background merge (reads pick one per key), and a
      // merge may drop superseded rows of replacing keys: compare the id tables' distinct rows.
      t.deepEqual(distinctIdRows(await storedRows(s)), distinctIdRows(rowsOnce));
    }
  });

  test.serial(
    `store contract (${name}) - token buckets summed to a step, aligned, latest write wins`,
    async (t) => {
      const rows = await stores[name]!.tokenBuckets('tA', T0 + 500, T0 + 10_000, 5000);
      t.deepEqual(
        rows.map((r) => [r.startMs - T0, r.requests, r.allowed, r.denied, r.cost]),
        [
          [0, 1 + 2 + 3 + 100 + 5, 0 + 1 + 2 + 99 + 4, 5, 55.5],
          [5000, 6 + 7 + 8 + 9 + 10, 35, 5, 20],
        ],
      );
      t.true(rows.every((r) => r.token === 'tA' && r.resolution === '1s'));
    },
  );

  test.serial(`store contract (${name}) - zero-filled steps and rotated-key history`, async (t) => {
    const s = stores[name]!;
    const tail = await s.tokenBuckets('tA', T0 + 8000, T0 + 12_000, 1000);
    t.deepEqual(
      tail.map((r) => [r.startMs - T0, r.requests]),
      [
        [8000, 9],
        [9000, 10],
        [10_000, 0],
        [11_000, 0],
      ],
    );
    const before = await s.tokenBuckets('tA', T0 - 6000, T0, 2000);
    t.deepEqual(
      before.map((r) => [r.startMs - T0, r.requests]),
      [
        [-6000, 7],
        [-4000, 0],
        [-2000, 0],
      ],
    );
    const minutes = await s.tokenBuckets('tA', T0, T0 + 180_000, 60_000);
    t.deepEqual(
      minutes.map((r) => [r.resolution, r.startMs - T0, r.requests, r.cost]),
      [
        ['1m', 0, 60, 30],
        ['1m', 60_000, 0, 0],
        ['1m', 120_000, 6, 3],
      ],
    );
  });

  test.serial(
    `store contract (${name}) - bucket parts of two sources sum, a replay counts once`,
    async (t) => {
      // A token's owner changed mid-minute: the old and the new owner each wrote their part.
      const s = stores[name]!;
      const T1 = T0 + 3_600_000;
      const part = (source: string, resolution: '1s' | '1m', startMs: number, n: number): BucketRow => ({
        token: 'tH',
        resolution,
        startMs,
        source,
        requests: n,
        allowed: n - 1,
        denied: 1,
        cost: n / 2,
      });
      const a = [part('node-a/1', '1m', T1, 10), part('node-a/1', '1s', T1 + 59_000, 3)];
      const b = [part('node-b/1', '1m', T1, 4), part('node-b/1', '1s', T1 + 59_000, 2)];
      await s.insertBuckets(a);
      await s.insertBuckets(b);
      await s.insertBuckets(a); // replays of each source's batch
      await s.insertBuckets([...b, ...a]);
      const minutes = await s.tokenBuckets('tH', T1, T1 + 120_000, 60_000);
      t.deepEqual(
        minutes.map((r) => [r.startMs - T1, r.requests, r.allowed, r.denied, r.cost]),
        [
          [0, 14, 12, 2, 7],
          [60_000, 0, 0, 0, 0],
        ],
      );
      t.true(minutes.every((r) => r.source === undefined));
      const seconds = await s.tokenBuckets('tH', T1 + 58_000, T1 + 60_000, 1000);
      t.deepEqual(
        seconds.map((r) => [r.startMs - T1, r.requests, r.allowed, r.denied, r.cost]),
        [
          [58_000, 0, 0, 0, 0],
          [59_000, 5, 3, 2, 2.5],
        ],
      );
      // A later write of one source replaces only that source's part.
      await s.insertBuckets([part('node-b/1', '1m', T1, 6)]);
      t.is((await s.tokenBuckets('tH', T1, T1 + 60_000, 60_000))[0]!.requests, 16);
      t.deepEqual(await s.activeTokens(T1, T1 + 60_000), ['tH']);
    },
  );

  test.serial(
    `store contract (${name}) - token series equal token buckets token by token, links and gaps included`,
    async (t) => {
      const s = stores[name]!;
      // A token renamed twice (tC-v1 -> tC-v2 -> tC), each name with rows of its own, in 1 s and
      // 1 min buckets with gaps; tC-v2 and tC-v1 asked for as well, so one token's rows add to
      // several series.
      const T2 = T0 + 7_200_000;
      const at = (token: string, resolution: '1s' | '1m', offsetMs: number, n: number): BucketRow => ({
        token,
        resolution,
        startMs: T2 + offsetMs,
        requests: n,
        allowed: n,
        denied: 0,
        cost: n,
      });
      await s.insertBuckets([
        at('tC-v1', '1s', 0, 4),
        at('tC-v1', '1s', 3000, 1),
        at('tC-v2', '1s', 3000, 2),
        at('tC-v2', '1s', 7000, 8),
        at('tC', '1s', 9000, 16),
        at('tC-v1', '1m', 0, 40),
        at('tC-v2', '1m', 120_000, 20),
        at('tC', '1m', 120_000, 3),
      ]);
      await s.insertLinks([
        { fromToken: 'tC-v1', toToken: 'tC-v2', timeMs: T2 },
        { fromToken: 'tC-v2', toToken: 'tC', timeMs: T2 + 1 },
      ]);
      const tokens = ['tC', 'tC-v2', 'tC-v1', 'tA', 'tA-old', 'tB', 'tH', 'tNone', 'tC'];
      const ranges: [number, number, number][] = [
        [T2, T2 + 12_000, 1000],
        [T2 + 500, T2 + 11_000, 2000],
        [T2, T2 + 240_000, 60_000],
        [T0 - 6000, T0 + 12_000, 1000],
        [T0 + 500, T0 + 10_000, 5000],
        [T0, T0 + 180_000, 60_000],
        [T0 + 3_600_000, T0 + 3_720_000, 60_000],
      ];
      for (const [fromMs, toMs, stepMs] of ranges) {
        const what = `${fromMs - T0} .. ${toMs - T0} by ${stepMs}`;
        const series = await s.tokenSeries(tokens, fromMs, toMs, stepMs);
        t.true(
          series.every((v) => v instanceof Float64Array),
          what,
        );
        t.deepEqual(series, await perToken(s, tokens, fromMs, toMs, stepMs), what);
      }
      // Not all zeros: the chain's rows reach each series as its links say.
      const [tC, tCv2, tCv1, , , , , none] = await s.tokenSeries(tokens, T2, T2 + 12_000, 1000);
      t.deepEqual([...tC!], [4, 0, 0, 3, 0, 0, 0, 8, 0, 16, 0, 0]);
      t.deepEqual([...tCv2!], [4, 0, 0, 3, 0, 0, 0, 8, 0, 0, 0, 0]);
      t.deepEqual([...tCv1!], [4, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
      t.deepEqual([...none!], new Array<number>(12).fill(0));
      const [minutes] = await s.tokenSeries(['tC'], T2, T2 + 240_000, 60_000);
      t.deepEqual([...minutes!], [40, 0, 23, 0]);
    },
  );

  test.serial(
    `store contract (${name}) - token series of no tokens, a quiet token, an empty range`,
    async (t) => {
      const s = stores[name]!;
      t.deepEqual(await s.tokenSeries([], T0, T0 + 60_000, 1000), []);
      t.deepEqual(await s.tokenSeries(['tNone'], T0, T0 + 3000, 1000), [new Float64Array(3)]);
      t.deepEqual(await s.tokenSeries(['tA', 'tNone'], T0, T0, 1000), [
        new Float64Array(0),
        new Float64Array(0),
      ]);
    },
  );

  test.serial(
    `store contract (${name}) - token series: bad inputs are input errors naming the field`,
    async (t) => {
      const s = stores[name]!;
      const bad = async (p: Promise<unknown>, field: string, message: string | RegExp): Promise<void> => {
        const err = await t.throwsAsync(p, { instanceOf: InputError, message });
        t.is(err?.field, field);
      };
      await bad(
        s.tokenSeries(['tA'], T0, T0 + 1000, 1500),
        'stepMs',
        'stepMs must be a positive multiple of 1000, got 1500',
      );
      await bad(s.tokenSeries(['tA'], T0, T0 - 1, 1000), 'toMs', /^toMs must be an integer >= fromMs/);
      await bad(
        s.tokenSeries(['tA'], -1, T0, 1000),
        'fromMs',
        'fromMs must be a non-negative integer, got -1',
      );
      await bad(
        s.tokenSeries('tA' as unknown as string[], T0, T0 + 1000, 1000),
        'tokens',
        'tokens must be an array of tokens, got "tA"',
      );
      await bad(
        s.tokenSeries(['tA', 7 as unknown as string], T0, T0 + 1000, 1000),
        'tokens[1]',
        'tokens[1] must be a non-empty string, got 7',
      );
      await bad(
        s.tokenSeries([''], T0, T0 + 1000, 1000),
        'tokens[0]',
        'tokens[0] must be a non-empty string, got ""',
      );
      // One series past MAX_STEPS, as tokenBuckets refuses it; then the bound on all series together.
      await bad(
        s.tokenSeries(['tA'], 0, 100_001_000, 1000),
        'stepMs',
        'stepMs must be large enough for at most 100000 steps in the range, got 1000',
      );
      const most = Math.floor(MAX_SERIES_VALUES / 100_000);
      await bad(
        s.tokenSeries(new Array<string>(most + 1).fill('tA'), 0, 100_000_000, 1000),
        'tokens',
        `tokens must be at most ${most} tokens for 100000 steps (${MAX_SERIES_VALUES} values in all), got ${most + 1}`,
      );
    },
  );

  test.serial(`store contract (${name}) - records round-trip exactly, once each`, async (t) => {
    const recs = await stores[name]!.records(T0, T0 + 60_000);
    t.deepEqual(recs, [record(1, 'tA', { op: 'read', region: 'eu' }), record(2, 'tB'), record(3, 'tA')]);
  });

  test.serial(`store contract (${name}) - active tokens by latest name`, async (t) => {
    t.deepEqual(await stores[name]!.activeTokens(T0 - 10_000, T0 + 60_000), ['tA', 'tB']);
    t.deepEqual(await stores[name]!.activeTokens(T0 - 5000, T0 - 4999), ['tA']);
  });

  test.serial(`store contract (${name}) - events by range and topic`, async (t) => {
    const s = stores[name]!;
    t.deepEqual(
      (await s.events(T0, T0 + 10_000)).map((e) => e.id),
      ['e1', 'e2', 'e3'],
    );
    t.deepEqual(await s.events(T0, T0 + 10_000, 'launch'), [
      { id: 'e1', source: 'news', topic: 'launch', timeMs: T0 + 1000, value: 3, tokens: ['tA'] },
      { id: 'e3', source: 'news', topic: 'launch', timeMs: T0 + 3000, value: 5, tokens: ['tA', 'tB'] },
    ]);
    t.deepEqual(await s.events(T0 + 1001, T0 + 3000), [
      { id: 'e2', source: 'trends', topic: 'sale', timeMs: T0 + 2000, value: 0.25, tokens: [] },
    ]);
  });

  test.serial(
    `store contract (${name}) - event levels per topic and aligned step, empty steps filled`,
    async (t) => {
      const s = stores[name]!;
      const levels = await s.eventLevels(T0 + 500, T0 + 6000, 2000);
      t.deepEqual(
        levels.map((r) => [r.topic, r.startMs - T0, r.count, r.sum, r.max, r.last]),
        [
          ['launch', 0, 1, 3, 3, 3],
          ['launch', 2000, 1, 5, 5, 5],
          ['launch', 4000, 0, 0, null, null],
          ['sale', 0, 0, 0, null, null],
          ['sale', 2000, 1, 0.25, 0.25, 0.25],
          ['sale', 4000, 0, 0, null, null],
        ],
      );
      // Two events in one step: count and sum add up, max is the larger, last the later.
      t.deepEqual(await s.eventLevels(T0, T0 + 4000, 4000, 'launch'), [
        { topic: 'launch', startMs: T0, count: 2, sum: 8, max: 5, last: 5 },
      ]);
      // A topic asked for by name is filled even without events; others are left out.
      t.deepEqual(
        (await s.eventLevels(T0, T0 + 2000, 1000, 'quiet')).map((r) => [r.topic, r.count, r.last]),
        [
          ['quiet', 0, null],
          ['quiet', 0, null],
        ],
      );
      t.deepEqual(await s.eventLevels(T0, T0, 1000), []);
      await t.throwsAsync(s.eventLevels(T0, T0 + 1000, 1500), {
        instanceOf: InputError,
        message: 'stepMs must be a positive multiple of 1000, got 1500',
      });
    },
  );

  test.serial(`store contract (${name}) - forecasts by target, latest write wins`, async (t) => {
    const rows = await stores[name]!.forecasts('tA', T0, T0 + 60_000);
    t.deepEqual(
      rows.map((r) => [r.model, r.targetMs - T0, r.horizonMs, r.p10, r.p50, r.p90]),
      [
        ['lstm', 5000, 5000, 19, 20, 21],
        ['bn', 6000, 5000, 10, 11, 12],
        ['lstm', 30_000, 30_000, 11, 12, 13],
      ],
    );
  });

  test.serial(`store contract (${name}) - decisions once each, optional token kept absent`, async (t) => {
    t.deepEqual(await stores[name]!.decisions(T0, T0 + 10), [
      { id: 'd1', timeMs: T0, pool: 'db', kind: 'grant', token: 'tA', amount: 4, detail: '{"why":"p90"}' },
      { id: 'd2', timeMs: T0 + 1, pool: 'servers', kind: 'provision', amount: 1, detail: '{}' },
    ]);
  });

  test.serial(`store contract (${name}) - bad ranges and steps are input errors`, async (t) => {
    const s = stores[name]!;
    await t.throwsAsync(s.tokenBuckets('tA', T0, T0 + 1000, 1500), {
      instanceOf: InputError,
      message: 'stepMs must be a positive multiple of 1000, got 1500',
    });
    await t.throwsAsync(s.events(T0, T0 - 1), {
      instanceOf: InputError,
      message: /^toMs must be an integer >= fromMs/,
    });
  });

  test.serial(`store contract (${name}) - retention drops whole old days only`, async (t) => {
    const s = stores[name]!;
    t.is((await s.records(T0 - 6 * DAY_MS, T0 - 4 * DAY_MS)).length, 1);
    t.true((await s.dumpAll()).includes('tOld'));
    await s.enforceRetention(T0);
    t.deepEqual(await s.records(T0 - 6 * DAY_MS, T0 - 4 * DAY_MS), []);
    t.is((await s.records(T0, T0 + 60_000)).length, 3);
    t.false((await s.dumpAll()).includes('tOld'));
    t.deepEqual(s.tables(), ['records', 'buckets', 'events', 'forecasts', 'decisions', 'token_links']);
  });
}
