// The trainer's store source reads every token's series in one tokenSeries call (a few past
// MAX_SERIES_VALUES) and gives the same training data as the per-token tokenBuckets path it
// replaced, against a real DuckDB store on a worker thread, as a node runs it.
import test from 'ava';
import { SimulatedClock } from '../../lib/index.ts';
import { storeTrainingSource } from '../../services/index.ts';
import {
  MAX_SERIES_VALUES,
  createWorkerStore,
  type BucketRow,
  type RequestRecord,
  type TimeSeriesStore,
  type WorkerStore,
} from '../../store/index.ts';
import { perTokenSource } from '../helpers/per-token-source.ts';

const HOUR_S = 3600;
/** The end of the source's window: an hour of 1 s steps before it. */
const NOW = Date.UTC(2026, 10, 20, 13, 0, 0) + 400;
const T0 = Math.floor(NOW / 1000) * 1000 - HOUR_S * 1000;

/** The real store, its reads counted by method (the store answers every one). */
function counted(store: TimeSeriesStore): { store: TimeSeriesStore; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof prop !== 'string' || typeof v !== 'function') return v;
      return (...args: unknown[]): unknown => {
        calls.set(prop, (calls.get(prop) ?? 0) + 1);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

const bucket = (token: string, second: number, requests: number): BucketRow => ({
  token,
  resolution: '1s',
  startMs: T0 + second * 1000,
  requests,
  allowed: requests,
  denied: 0,
  cost: requests,
});

function record(token: string, second: number): RequestRecord {
  return {
    id: `${token}-${second}`,
    timeMs: T0 + second * 1000,
    token,
    params: {},
    allow: true,
    ruleId: null,
    cost: 1,
    secondOfMinute: 0,
    minuteOfHour: 0,
    hourOfDay: 0,
    dayOfWeek: 0,
    dayOfYear: 0,
    holiday: false,
    profile: {},
    events: {},
  };
}

let store: WorkerStore | undefined;

test.before(async () => {
  store = createWorkerStore({ adapter: 'duckdb', options: { path: ':memory:' } });
  await store.init();
});

test.after.always(async () => {
  await store?.close();
});

test.serial('training data - one tokenSeries read gives what the per-token reads gave', async (t) => {
  const s = store!;
  const rows: BucketRow[] = [];
  // 40 tokens with bursts and gaps over the hour; some of them renamed by key rotation midway.
  for (let k = 0; k < 40; k++) {
    for (let sec = k % 7; sec < HOUR_S; sec += 3 + (k % 11)) {
      if (Math.floor(sec / 300) % 3 === 1) continue; // a gap of 5 minutes in every 15
      const token = k % 5 === 0 && sec < 1800 ? `old-${k}` : `tok-${k}`;
      rows.push(bucket(token, sec, 1 + ((sec * (k + 1)) % 9)));
    }
  }
  // Rows just outside the window do not count.
  rows.push(bucket('tok-1', -1, 50), bucket('tok-1', HOUR_S, 50));
  await s.insertBuckets(rows);
  await s.insertLinks(
    Array.from({ length: 8 }, (_, i) => ({ fromToken: `old-${i * 5}`, toToken: `tok-${i * 5}`, timeMs: T0 })),
  );
  // Active by its records only: no buckets, a zero series, left out of the data.
  await s.insertRecords([record('quiet', 10)]);

  const clock = new SimulatedClock(NOW);
  const { store: spied, calls } = counted(s);
  const got = await storeTrainingSource(spied, clock, HOUR_S, 1000, 200)();
  const before = await perTokenSource(s, clock, HOUR_S, 1000, 200)();
  t.deepEqual(got, before);
  t.is(got?.series.length, 40, 'every token with demand, the quiet one left out');
  t.is(got?.timestamps[0], T0);
  t.deepEqual(Object.fromEntries(calls), { activeTokens: 1, tokenSeries: 1 });

  // With maxTokens below the active tokens: the same first ones.
  t.deepEqual(
    await storeTrainingSource(s, clock, HOUR_S, 1000, 7)(),
    await perTokenSource(s, clock, HOUR_S, 1000, 7)(),
  );
  // Nothing active: no data, as before.
  const early = new SimulatedClock(T0 - 7_200_000);
  t.is(await storeTrainingSource(s, early, HOUR_S, 1000, 200)(), undefined);
});

test.serial('training data - more tokens than one read may hold are read in a few', async (t) => {
  const s = store!;
  // A window of its own, two hours on: one bucket per token, each token at its own second.
  const later = 2 * HOUR_S;
  const perRead = Math.floor(MAX_SERIES_VALUES / HOUR_S);
  const n = perRead + 35;
  const at = (k: number): number => (k * 13) % HOUR_S;
  const requests = (k: number): number => 1 + (k % 4);
  const name = (k: number): string => `many-${String(k).padStart(5, '0')}`;
  await s.insertBuckets(Array.from({ length: n }, (_, k) => bucket(name(k), later + at(k), requests(k))));
  const clock = new SimulatedClock(NOW + later * 1000);
  const { store: spied, calls } = counted(s);
  const got = await storeTrainingSource(spied, clock, HOUR_S, 1000, 100_000)();
  t.deepEqual(Object.fromEntries(calls), { activeTokens: 1, tokenSeries: 2 });
  t.is(got?.series.length, n);
  t.is(got?.timestamps[0], T0 + later * 1000);
  // Every series is its token's one bucket (tokens sorted by name, as activeTokens gives them).
  const wrong = got!.series.filter(
    (v, k) => v[at(k)] !== requests(k) || v.reduce((a, b) => a + b) !== requests(k),
  );
  t.is(wrong.length, 0);
  // And what tokenBuckets gives, on both sides of where the first read ends.
  const fromMs = T0 + later * 1000;
  for (const k of [0, perRead - 1, perRead, n - 1]) {
    const rows = await s.tokenBuckets(name(k), fromMs, fromMs + HOUR_S * 1000, 1000);
    t.deepEqual(
      got!.series[k],
      Float64Array.from(rows, (r) => r.requests),
      name(k),
    );
  }
});
