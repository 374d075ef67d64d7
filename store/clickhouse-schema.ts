/**
 * The ClickHouse schema and SQL literals, kept to what 18.16 understands:
 * Int64 milliseconds instead of DateTime64, day partitions from
 * `toYYYYMMDD(toDateTime(intDiv(ms, 1000), 'UTC'))`, no TTL (retention drops
 * partitions), and values inlined as escaped literals (no query parameters).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { TABLES, type Column, type TableSpec } from './columns.ts';
import type { MigrationIo } from './migrate.ts';
import type { RowKind } from './types.ts';

const CH_TYPE: Record<Column['type'], string> = {
  str: 'String',
  nstr: 'Nullable(String)',
  int: 'Int64',
  small: 'UInt16',
  float: 'Float64',
  bool: 'UInt8',
  json: 'String',
  list: 'Array(String)',
};

/** Sorting keys: they start with the key columns' natural read order and contain the whole key. */
const ORDER_BY: Record<RowKind, string> = {
  records: 'token, time_ms, id',
  buckets: 'token, resolution, start_ms, source',
  events: 'topic, time_ms, id',
  forecasts: 'token, made_ms, horizon_ms, model',
  decisions: 'time_ms, id',
  links: 'to_token, from_token',
};

/** A ClickHouse string literal (the server's escaping: backslash and quote). */
export function chString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** An integer literal; only safe integers reach SQL text. */
export function chInt(n: number): string {
  if (!Number.isSafeInteger(n)) throw new RangeError(`not a safe integer: ${n}`);
  return String(n);
}

/** `CREATE TABLE IF NOT EXISTS` for one kind, in `database`. */
export function createTableSql(database: string, kind: RowKind): string {
  const spec: TableSpec = TABLES[kind];
  const cols = spec.columns.map((c) => `${c.col} ${CH_TYPE[c.type]}`);
  // Replacing keys keep the row with the highest version; id tables keep any (they are equal).
  if (spec.replacing) cols.push('version UInt64');
  const engine = spec.replacing ? 'ReplacingMergeTree(version)' : 'ReplacingMergeTree()';
  return (
    `CREATE TABLE IF NOT EXISTS ${database}.${spec.table} (${cols.join(', ')}) ENGINE = ${engine} ` +
    `PARTITION BY toYYYYMMDD(toDateTime(intDiv(${spec.timeCol}, 1000), 'UTC')) ORDER BY (${ORDER_BY[kind]})`
  );
}

/** The schema-upgrade hooks on one database (system.columns, RENAME TABLE: both on 18.16). */
export function clickHouseMigrationIo(client: ClickHouseClient, database: string): MigrationIo {
  return {
    columns: async (table) => {
      const rs = await client.query({
        query: `SELECT name FROM system.columns WHERE database = ${chString(database)} AND table = ${chString(table)}`,
        format: 'JSONEachRow',
      });
      return (await rs.json<{ name: string }>()).map((r) => r.name);
    },
    name: (table) => `${database}.${table}`,
    rename: async (from, to) =>
      void (await client.command({ query: `RENAME TABLE ${database}.${from} TO ${database}.${to}` })),
    create: async (kind) => void (await client.command({ query: createTableSql(database, kind) })),
    run: async (query) => void (await client.command({ query })),
    literal: chString,
    extra: (kind) => (TABLES[kind].replacing ? ['version'] : []),
  };
}
