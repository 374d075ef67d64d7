/**
 * DuckDB SQL the embedded adapter uses: column types, table creation and
 * the schema-upgrade hooks (duckdb-chunks.ts writes the values).
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { TABLES, type ColumnType, type TableSpec } from './columns.ts';
import type { MigrationIo } from './migrate.ts';

const SQL_TYPE: Record<ColumnType, string> = {
  str: 'VARCHAR NOT NULL',
  nstr: 'VARCHAR',
  int: 'BIGINT NOT NULL',
  small: 'INTEGER NOT NULL',
  float: 'DOUBLE NOT NULL',
  bool: 'BOOLEAN NOT NULL',
  json: 'VARCHAR NOT NULL',
  list: 'VARCHAR[] NOT NULL',
};

/**
 * `CREATE TABLE IF NOT EXISTS` for one table, without a primary key: a key's
 * index (an ART) is held in memory whole and grows with every row kept (it
 * was most of the file too), so keys are kept unique by the adapter's
 * writes instead (duckdb-store.ts), against the rows of the batch's time
 * range only. Tables made by an earlier version keep their key; the writes
 * are the same with it.
 */
export function createSql(spec: TableSpec): string {
  const cols = spec.columns.map((c) => `${c.col} ${SQL_TYPE[c.type]}`).join(', ');
  return `CREATE TABLE IF NOT EXISTS ${spec.table} (${cols})`;
}

/**
 * Whether a key names rows of one time only (the time column is part of it,
 * or it is a row id, written with its row's time), so that looking for a
 * batch's keys can stop at the batch's time range.
 */
export function keyFixesTime(spec: TableSpec): boolean {
  return spec.key.includes(spec.timeCol) || (spec.key.length === 1 && spec.key[0] === 'id');
}

/**
 * The statements that move a batch from `stage` (same columns) into its
 * table keeping keys unique: ids keep the first write (rows whose key is
 * there already are left out), replacing keys the last (rows with the
 * batch's keys are deleted first). `$1`, `$2`: the batch's time range, when
 * the key fixes the time.
 */
export function mergeSql(spec: TableSpec, stage: string): string[] {
  const t = spec.table;
  const bounded = keyFixesTime(spec);
  const range = bounded ? ` AND t.${spec.timeCol} BETWEEN $1 AND $2` : '';
  const same = spec.key.map((k) => `t.${k} = s.${k}`).join(' AND ');
  if (!spec.replacing) {
    return [
      `INSERT INTO ${t} SELECT s.* FROM ${stage} s WHERE NOT EXISTS (SELECT 1 FROM ${t} t WHERE ${same}${range})`,
    ];
  }
  return [
    `DELETE FROM ${t} t WHERE EXISTS (SELECT 1 FROM ${stage} s WHERE ${same})${range}`,
    `INSERT INTO ${t} SELECT * FROM ${stage}`,
  ];
}

/** The schema-upgrade hooks on one connection (tables in the default schema). */
export function duckDbMigrationIo(
  conn: DuckDBConnection,
  create: (spec: TableSpec) => Promise<unknown>,
): MigrationIo {
  return {
    columns: async (table) =>
      (
        await conn.runAndReadAll(
          `SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' AND table_name = $1`,
          [table],
        )
      )
        .getRowObjectsJS()
        .map((r) => String(r['column_name'])),
    name: (table) => table,
    rename: async (from, to) => void (await conn.run(`ALTER TABLE ${from} RENAME TO ${to}`)),
    create: async (kind) => void (await create(TABLES[kind])),
    run: async (sql) => void (await conn.run(sql)),
    literal: (v) => `'${v.replace(/'/g, "''")}'`,
    extra: () => [],
  };
}
