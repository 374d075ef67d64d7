/**
 * DuckDB SQL the embedded adapter uses: column types, the appender's value
 * conversion, table creation and the schema-upgrade hooks.
 */
import { LIST, VARCHAR, type DuckDBAppender, type DuckDBConnection } from '@duckdb/node-api';
import { TABLES, type Column, type TableSpec } from './columns.ts';
import type { MigrationIo } from './migrate.ts';

const STRING_LIST = LIST(VARCHAR);

const SQL_TYPE: Record<Column['type'], string> = {
  str: 'VARCHAR NOT NULL',
  nstr: 'VARCHAR',
  int: 'BIGINT NOT NULL',
  small: 'INTEGER NOT NULL',
  float: 'DOUBLE NOT NULL',
  bool: 'BOOLEAN NOT NULL',
  json: 'VARCHAR NOT NULL',
  list: 'VARCHAR[] NOT NULL',
};

export function append(a: DuckDBAppender, col: Column, v: unknown): void {
  if (v === null || v === undefined) return a.appendNull();
  switch (col.type) {
    case 'int':
      return a.appendBigInt(BigInt(Math.trunc(v as number)));
    case 'small':
      return a.appendInteger(v as number);
    case 'float':
      return a.appendDouble(v as number);
    case 'bool':
      return a.appendBoolean(v as boolean);
    case 'list':
      return a.appendList((v as string[]).map(String), STRING_LIST);
    default:
      return a.appendVarchar(String(v));
  }
}

/** Appends one encoded value of a column (see encoded.ts). */
export type ValueWriter = (a: DuckDBAppender, v: unknown) => void;

/**
 * A writer per column of a table, chosen once rather than per value (this
 * runs for every value of every batch); the same conversions as
 * {@link append}.
 */
export function columnWriters(spec: TableSpec): ValueWriter[] {
  return spec.columns.map((col): ValueWriter => {
    switch (col.type) {
      case 'str':
      case 'nstr':
      case 'json':
        return (a, v) => (v === null || v === undefined ? a.appendNull() : a.appendVarchar(String(v)));
      default:
        return (a, v) => append(a, col, v);
    }
  });
}

/** `CREATE TABLE IF NOT EXISTS` for one table, its key as the primary key. */
export function createSql(spec: TableSpec): string {
  const cols = spec.columns.map((c) => `${c.col} ${SQL_TYPE[c.type]}`).join(', ');
  return `CREATE TABLE IF NOT EXISTS ${spec.table} (${cols}, PRIMARY KEY (${spec.key.join(', ')}))`;
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
