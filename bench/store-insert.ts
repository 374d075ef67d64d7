// Records per second through Batcher -> store, beside each client writing the
// same rows straight into an identical table, for DuckDB and ClickHouse.
//   npx tsx bench/store-insert.ts [records=100000] [batch=5000]
// ClickHouse: $CLICKHOUSE_URL if set, else a server started for the run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  Batcher,
  createClickHouseStore,
  createDuckDbStore,
  type RequestRecord,
  type TimeSeriesStore,
} from '../store/index.ts';
import { rawClickHouse, rawDuckDb } from './raw-insert.ts';
import { startClickHouseServer, type ClickHouseServer } from '../test/helpers/clickhouse-server.ts';

const N = Number(process.argv[2] ?? 100_000);
const BATCH = Number(process.argv[3] ?? 5000);
const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);

function rec(i: number): RequestRecord {
  return {
    id: `b${i}`,
    timeMs: T0 + i,
    token: `k1.${(i % 997).toString(16).padStart(32, '0')}`,
    op: 'read',
    params: { op: 'read', plan: 'pro' },
    allow: i % 10 !== 0,
    ruleId: 'per-user',
    cost: 1,
    secondOfMinute: i % 60,
    minuteOfHour: 0,
    hourOfDay: 12,
    dayOfWeek: 5,
    dayOfYear: 324,
    holiday: false,
    profile: { tier: 'gold', segment: 'smb' },
    region: 'eu-west',
    events: { 'news:launch': 1 },
  };
}

const rows = Array.from({ length: N }, (_, i) => rec(i));

let run = 0;

/** A fresh store (fresh database) per run, so that no run meets another's ids. */
async function viaBatcher(make: () => TimeSeriesStore): Promise<number> {
  const store = make();
  await store.init();
  const dir = mkdtempSync(join(tmpdir(), 'headroom-bench-'));
  const b = new Batcher(store, { maxRows: BATCH, maxDelayMs: 1000, spoolDir: dir });
  const t0 = performance.now();
  for (const r of rows) b.add('records', r);
  await b.drain();
  const ms = performance.now() - t0;
  await b.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return (N / ms) * 1000;
}

let server: ClickHouseServer | undefined;
try {
  let url = process.env['CLICKHOUSE_URL'];
  if (url === undefined) {
    server = await startClickHouseServer();
    url = server.url;
  }
  const chUrl = url;
  const duck = (): TimeSeriesStore => createDuckDbStore({ path: ':memory:' });
  const ch = (): TimeSeriesStore => createClickHouseStore({ url: chUrl, database: `bench_store_${++run}` });
  // Alternate the two paths, twice each, and keep each one's best run, so
  // that neither gets the cold start (JIT, server caches) alone.
  const best = async (a: () => Promise<number>, b: () => Promise<number>): Promise<[number, number]> => {
    let [x, y] = [0, 0];
    for (let i = 0; i < 2; i++) {
      y = Math.max(y, await b());
      x = Math.max(x, await a());
    }
    return [x, y];
  };
  const results = [
    [
      'duckdb',
      ...(await best(
        () => viaBatcher(duck),
        () => rawDuckDb(rows, BATCH),
      )),
    ],
    [
      'clickhouse',
      ...(await best(
        () => viaBatcher(ch),
        () => rawClickHouse(chUrl, rows, BATCH),
      )),
    ],
  ] as const;
  console.log(`records=${N} batch=${BATCH}`);
  console.log('store       batcher->store rec/s   raw client rec/s   ratio');
  for (const [name, ours, raw] of results) {
    console.log(
      `${name.padEnd(11)} ${Math.round(ours).toString().padStart(20)} ${Math.round(raw).toString().padStart(18)}   ${(ours / raw).toFixed(2)}`,
    );
  }
} finally {
  await server?.dispose();
}
