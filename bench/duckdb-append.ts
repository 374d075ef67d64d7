// The DuckDB store's append of one encoded batch into its stage table, by
// data chunks (store/duckdb-chunks.ts, what the store runs) beside the peer
// it replaced: one appender call per value and `endRow` per row. Same
// batches, same process, the two paths alternating; rows/s and CPU us per
// row (process CPU: DuckDB runs one thread, the caller's) of each, and a
// check that both stage tables hold the same rows. Both figures include
// what the paths share: the appender's creation and DuckDB's flush of the
// rows into the table (about 0.7 us a record row on the machine of the
// commit that added this). Batches: records of 333 tokens (bench/client.ts
// --phases batch, a node's share of 1000 users), buckets of the same, and
// records of one-off users (every token once: fewer repeated strings).
//   npx tsx bench/duckdb-append.ts [rounds=40] [rows=5000]
import { DuckDBInstance, LIST, VARCHAR, type DuckDBAppender, type DuckDBConnection } from '@duckdb/node-api';
import { performance } from 'node:perf_hooks';
import { TABLES, type Column } from '../store/columns.ts';
import { columnChunks, type ColumnChunks } from '../store/duckdb-chunks.ts';
import { createSql } from '../store/duckdb-sql.ts';
import { encodeRows, type EncodedBatch } from '../store/encoded.ts';
import type { BucketRow, RequestRecord } from '../store/index.ts';

const ROUNDS = Number(process.argv[2] ?? 40);
const ROWS = Number(process.argv[3] ?? 5000);
/** bench/client.ts's 1000 users over three nodes: a node's batch names about a third of them. */
const TOKENS = 333;
const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);

// ---- the peer: the per-value appender calls of the store before chunks ----
type ValueWriter = (a: DuckDBAppender, v: unknown) => void;
const STRING_LIST = LIST(VARCHAR);

function valueWriter(col: Column): ValueWriter {
  switch (col.type) {
    case 'int':
      return (a, v) => (v == null ? a.appendNull() : a.appendBigInt(BigInt(Math.trunc(v as number))));
    case 'small':
      return (a, v) => (v == null ? a.appendNull() : a.appendInteger(v as number));
    case 'float':
      return (a, v) => (v == null ? a.appendNull() : a.appendDouble(v as number));
    case 'bool':
      return (a, v) => (v == null ? a.appendNull() : a.appendBoolean(v as boolean));
    case 'list':
      return (a, v) => (v == null ? a.appendNull() : a.appendList((v as string[]).map(String), STRING_LIST));
    default:
      return (a, v) => (v == null ? a.appendNull() : a.appendVarchar(String(v)));
  }
}

async function perValue(conn: DuckDBConnection, table: string, b: EncodedBatch, w: readonly ValueWriter[]) {
  const a = await conn.createAppender(table);
  try {
    for (let i = 0; i < b.rows; i++) {
      for (let c = 0; c < w.length; c++) w[c]!(a, b.columns[c]![i]);
      a.endRow();
    }
    a.flushSync();
  } finally {
    a.closeSync();
  }
}

async function byChunks(conn: DuckDBConnection, table: string, b: EncodedBatch, chunks: ColumnChunks) {
  const a = await conn.createAppender(table);
  try {
    chunks.appendTo(a, b.columns, b.rows);
    a.flushSync();
  } finally {
    a.closeSync();
  }
}

// ---- batches as the collector writes them ----
/** Per token, the anonymised maps its records share (one object per token and second in the collector). */
function partsOf(tokens: number) {
  return Array.from({ length: tokens }, (_, k) => ({
    token: `k1.${(k * 7919).toString(16).padStart(40, '0')}`,
    params: { op: 'GetItem', plan: k % 3 === 0 ? 'pro' : 'free' },
    profile: { tier: k % 5 === 0 ? 'gold' : 'basic', segment: 'smb' },
    events: (k % 4 === 0 ? { 'news:launch': 1 } : {}) as Record<string, number>,
  }));
}

function recordsOf(tokens: number): RequestRecord[] {
  const parts = partsOf(tokens);
  return Array.from({ length: ROWS }, (_, i) => {
    const p = parts[i % tokens]!;
    const at = T0 + Math.floor((i * 1000) / ROWS);
    const r: RequestRecord = {
      id: `3f2a9c01b7e4${i.toString(36)}`, // the collector's: 12 hex digits of boot, then a number
      timeMs: at,
      token: p.token,
      op: 'GetItem',
      params: p.params,
      allow: i % 10 !== 0,
      ruleId: 'per-user',
      cost: 1,
      secondOfMinute: new Date(at).getUTCSeconds(),
      minuteOfHour: 0,
      hourOfDay: 12,
      dayOfWeek: 5,
      dayOfYear: 324,
      holiday: false,
      profile: p.profile,
      events: p.events,
    };
    if (i % 7 === 0) r.region = 'eu-west'; // most requests carry no region: NULLs
    return r;
  });
}

function bucketsOf(tokens: number): BucketRow[] {
  const parts = partsOf(tokens);
  return Array.from({ length: ROWS }, (_, i) => ({
    token: parts[i % tokens]!.token,
    resolution: i % 16 === 0 ? '1m' : '1s',
    startMs: T0 + Math.floor(i / tokens) * 1000,
    requests: 3 + (i % 5),
    allowed: 3,
    denied: i % 5,
    cost: 3 + (i % 5),
    source: 'node-1/3f2a9c01b7e4',
  }));
}

// ---- the run ----
const inst = await DuckDBInstance.create(':memory:', { memory_limit: '96MB', threads: '1' });
const conn = await inst.connect();

interface Sample {
  ms: number;
  cpuUs: number;
}

async function timed(fn: () => Promise<void>): Promise<Sample> {
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  const used = process.cpuUsage(cpu);
  return { ms, cpuUs: used.user + used.system };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function compare(label: string, kind: 'records' | 'buckets', rows: readonly object[]): Promise<void> {
  const spec = TABLES[kind];
  await conn.run(createSql(spec));
  const batch = encodeRows(kind, rows as never);
  const writers = spec.columns.map(valueWriter);
  const chunks = columnChunks(spec);
  const stage = (name: string): Promise<unknown> =>
    conn.run(`CREATE OR REPLACE TEMP TABLE ${name} AS SELECT * FROM ${spec.table} LIMIT 0`);

  // Same rows either way (EXCEPT ALL both ways: duplicates count).
  await stage('old_rows');
  await stage('new_rows');
  await perValue(conn, 'old_rows', batch, writers);
  await byChunks(conn, 'new_rows', batch, chunks);
  const diff = await conn.runAndReadAll(
    `SELECT (SELECT count(*) FROM (SELECT * FROM old_rows EXCEPT ALL SELECT * FROM new_rows))
          + (SELECT count(*) FROM (SELECT * FROM new_rows EXCEPT ALL SELECT * FROM old_rows)) AS d,
            (SELECT count(*) FROM new_rows) AS n`,
  );
  const [d, n] = diff.getRows()[0]!;
  if (d !== 0n || n !== BigInt(batch.rows))
    throw new Error(`${label}: the two paths differ (${d} rows, ${n} written)`);

  const old: Sample[] = [];
  const now: Sample[] = [];
  for (let r = 0; r < ROUNDS + 3; r++) {
    // Alternate which path goes first; the first three rounds warm both up.
    for (const path of r % 2 === 0 ? ['old', 'new'] : ['new', 'old']) {
      await stage('stage_bench');
      const s =
        path === 'old'
          ? await timed(() => perValue(conn, 'stage_bench', batch, writers))
          : await timed(() => byChunks(conn, 'stage_bench', batch, chunks));
      if (r >= 3) (path === 'old' ? old : now).push(s);
    }
  }
  const show = (name: string, xs: Sample[]): void => {
    const rowsPerSec = Math.round((batch.rows / median(xs.map((x) => x.ms))) * 1000);
    const cpuPerRow = median(xs.map((x) => x.cpuUs)) / batch.rows;
    console.log(
      `${label.padEnd(28)} ${name.padEnd(20)} ${String(rowsPerSec).padStart(9)} rows/s ${cpuPerRow.toFixed(3).padStart(7)} us CPU/row`,
    );
  };
  show('per-value appender', old);
  show('data chunks', now);
  const share = median(now.map((x) => x.cpuUs)) / median(old.map((x) => x.cpuUs));
  console.log(`${label.padEnd(28)} chunks: ${(100 * share).toFixed(0)} % of the per-value CPU\n`);
}

console.log(
  `batches of ${ROWS} rows, median of ${ROUNDS} each way; the two paths wrote the same rows: checked`,
);
await compare(`records, ${TOKENS} tokens`, 'records', recordsOf(TOKENS));
await compare(`buckets, ${TOKENS} tokens`, 'buckets', bucketsOf(TOKENS));
await compare('records, every token once', 'records', recordsOf(ROWS));
conn.closeSync();
inst.closeSync();
