// A store created before bucket rows carried a `source` is upgraded on init:
// the old rows are kept (source "") and new parts of other sources sum with them.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { createClient } from '@clickhouse/client';
import { DuckDBInstance } from '@duckdb/node-api';
import { createClickHouseStore, createDuckDbStore, type TimeSeriesStore } from '../../store/index.ts';
import { startClickHouseServer } from '../helpers/clickhouse-server.ts';

const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);
const OLD_COLUMNS = 'token, resolution, start_ms, requests, allowed, denied, cost';

async function checkUpgraded(t: ExecutionContext, store: TimeSeriesStore): Promise<void> {
  await store.init();
  await store.init(); // idempotent
  const part = { token: 'tU', resolution: '1m' as const, startMs: T0, allowed: 2, denied: 0, cost: 1 };
  await store.insertBuckets([{ ...part, source: 'node-b/1', requests: 2 }]);
  const rows = await store.tokenBuckets('tU', T0, T0 + 60_000, 60_000);
  t.deepEqual(
    rows.map((r) => [r.requests, r.allowed, r.denied, r.cost]),
    [[7, 7, 0, 3.5]],
  );
  t.regex(await store.dumpAll(), /"source":""/);
}

test('store upgrade - duckdb buckets table gains source, old rows kept', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'headroom-upgrade-'));
  try {
    const path = join(dir, 'store.duckdb');
    const db = await DuckDBInstance.create(path);
    const conn = await db.connect();
    await conn.run(
      `CREATE TABLE buckets (token VARCHAR NOT NULL, resolution VARCHAR NOT NULL, start_ms BIGINT NOT NULL,
        requests BIGINT NOT NULL, allowed BIGINT NOT NULL, denied BIGINT NOT NULL, cost DOUBLE NOT NULL,
        PRIMARY KEY (token, resolution, start_ms))`,
    );
    await conn.run(`INSERT INTO buckets (${OLD_COLUMNS}) VALUES ('tU', '1m', ${T0}, 5, 5, 0, 2.5)`);
    conn.closeSync();
    db.closeSync();
    const store = createDuckDbStore({ path });
    try {
      await checkUpgraded(t, store);
    } finally {
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('store upgrade - clickhouse buckets table gains source, old rows kept', async (t) => {
  const server = await startClickHouseServer();
  const client = createClient({ url: server.url });
  try {
    await client.command({ query: 'CREATE DATABASE legacy' });
    await client.command({
      query:
        'CREATE TABLE legacy.buckets (token String, resolution String, start_ms Int64, requests Int64, ' +
        'allowed Int64, denied Int64, cost Float64, version UInt64) ENGINE = ReplacingMergeTree(version) ' +
        "PARTITION BY toYYYYMMDD(toDateTime(intDiv(start_ms, 1000), 'UTC')) ORDER BY (token, resolution, start_ms)",
    });
    await client.command({
      query: `INSERT INTO legacy.buckets (${OLD_COLUMNS}, version) VALUES ('tU', '1m', ${T0}, 5, 5, 0, 2.5, 1)`,
    });
    const store = createClickHouseStore({ url: server.url, database: 'legacy' });
    try {
      await checkUpgraded(t, store);
    } finally {
      await store.close();
    }
  } finally {
    await client.close();
    await server.dispose();
  }
});
