// Records per second through Batcher -> store, beside each client writing the
// same rows straight into an identical table, for DuckDB and ClickHouse.
//   npx tsx bench/store-insert.ts [records=100000] [batch=5000]
// ClickHouse: $CLICKHOUSE_URL if set, else a server started for the run.
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { DuckDBInstance } from '@duckdb/node-api';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  Batcher,
  createClickHouseStore,
  createDuckDbStore,
  createTableSql,
  type RequestRecord,
  type TimeSeriesStore,
} from '../store/index.ts';
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

async function rawDuckDb(): Promise<number> {
  const inst = await DuckDBInstance.create(':memory:');
  const conn = await inst.connect();
  await conn.run(`CREATE TABLE records (id VARCHAR PRIMARY KEY, time_ms BIGINT, token VARCHAR, op VARCHAR, params VARCHAR,
    allow BOOLEAN, rule_id VARCHAR, cost DOUBLE, second_of_minute INTEGER, minute_of_hour INTEGER, hour_of_day INTEGER,
    day_of_week INTEGER, day_of_year INTEGER, holiday BOOLEAN, profile VARCHAR, region VARCHAR, events VARCHAR)`);
  const t0 = performance.now();
  for (let i = 0; i < N; i += BATCH) {
    const a = await conn.createAppender('records');
    for (const r of rows.slice(i, i + BATCH)) {
      a.appendVarchar(r.id);
      a.appendBigInt(BigInt(r.timeMs));
      a.appendVarchar(r.token);
      a.appendVarchar(r.op ?? '');
      a.appendVarchar(JSON.stringify(r.params));
      a.appendBoolean(r.allow);
      a.appendVarchar(r.ruleId ?? '');
      a.appendDouble(r.cost);
      for (const n of [r.secondOfMinute, r.minuteOfHour, r.hourOfDay, r.dayOfWeek, r.dayOfYear])
        a.appendInteger(n);
      a.appendBoolean(r.holiday);
      a.appendVarchar(JSON.stringify(r.profile));
      a.appendVarchar(r.region ?? '');
      a.appendVarchar(JSON.stringify(r.events));
      a.endRow();
    }
    a.flushSync();
    a.closeSync();
  }
  const ms = performance.now() - t0;
  conn.closeSync();
  inst.closeSync();
  return (N / ms) * 1000;
}

async function rawClickHouse(url: string): Promise<number> {
  const client = createClient({ url, log: { level: ClickHouseLogLevel.OFF } });
  const db = `bench_raw_${++run}`;
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
  await client.command({ query: createTableSql(db, 'records') });
  const t0 = performance.now();
  for (let i = 0; i < N; i += BATCH) {
    const values = rows.slice(i, i + BATCH).map((r) => ({
      id: r.id,
      time_ms: r.timeMs,
      token: r.token,
      op: r.op ?? null,
      params: JSON.stringify(r.params),
      allow: r.allow ? 1 : 0,
      rule_id: r.ruleId,
      cost: r.cost,
      second_of_minute: r.secondOfMinute,
      minute_of_hour: r.minuteOfHour,
      hour_of_day: r.hourOfDay,
      day_of_week: r.dayOfWeek,
      day_of_year: r.dayOfYear,
      holiday: r.holiday ? 1 : 0,
      profile: JSON.stringify(r.profile),
      region: r.region ?? null,
      events: JSON.stringify(r.events),
    }));
    await client.insert({ table: `${db}.records`, values, format: 'JSONEachRow' });
  }
  const ms = performance.now() - t0;
  await client.close();
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
    ['duckdb', ...(await best(() => viaBatcher(duck), rawDuckDb))],
    [
      'clickhouse',
      ...(await best(
        () => viaBatcher(ch),
        () => rawClickHouse(chUrl),
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
