/**
 * The peer of the store benchmarks: each client writing request records
 * straight into an identical table (the DuckDB appender; ClickHouse
 * `insert` with JSONEachRow), with no batcher, spool or collector in front.
 * Returns records per second.
 */
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { DuckDBInstance } from '@duckdb/node-api';
import { performance } from 'node:perf_hooks';
import { createTableSql } from '../store/index.ts';
import type { RequestRecord } from '../store/index.ts';

let run = 0;

export async function rawDuckDb(rows: readonly RequestRecord[], batch: number): Promise<number> {
  const inst = await DuckDBInstance.create(':memory:');
  const conn = await inst.connect();
  await conn.run(`CREATE TABLE records (id VARCHAR PRIMARY KEY, time_ms BIGINT, token VARCHAR, op VARCHAR, params VARCHAR,
    allow BOOLEAN, rule_id VARCHAR, cost DOUBLE, second_of_minute INTEGER, minute_of_hour INTEGER, hour_of_day INTEGER,
    day_of_week INTEGER, day_of_year INTEGER, holiday BOOLEAN, profile VARCHAR, region VARCHAR, events VARCHAR)`);
  const t0 = performance.now();
  for (let i = 0; i < rows.length; i += batch) {
    const a = await conn.createAppender('records');
    for (const r of rows.slice(i, i + batch)) {
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
  return (rows.length / ms) * 1000;
}

export async function rawClickHouse(
  url: string,
  rows: readonly RequestRecord[],
  batch: number,
): Promise<number> {
  const client = createClient({ url, log: { level: ClickHouseLogLevel.OFF } });
  const db = `bench_raw_${process.pid}_${++run}`;
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
  await client.command({ query: createTableSql(db, 'records') });
  const t0 = performance.now();
  for (let i = 0; i < rows.length; i += batch) {
    const values = rows.slice(i, i + batch).map((r) => ({
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
  return (rows.length / ms) * 1000;
}
