/**
 * Schema upgrades both adapters share: a table created before a column
 * existed is rebuilt with that column (its `dflt` fills the old rows). The
 * rebuild also moves the key, which neither backend can alter in place (the
 * bucket key gained `source`). Rows are copied before the old table is
 * dropped, so nothing is lost.
 */
import { ErrorCode, StateError } from '../lib/index.ts';
import { TABLES } from './columns.ts';
import type { RowKind } from './types.ts';

/** What the upgrade needs from an adapter. */
export interface MigrationIo {
  /** The column names of a table; empty when the table does not exist. */
  columns(table: string): Promise<string[]>;
  /** The qualified name of a table. */
  name(table: string): string;
  /** Renames a table (both names unqualified). */
  rename(from: string, to: string): Promise<void>;
  /** Creates the current table of a kind. */
  create(kind: RowKind): Promise<void>;
  run(sql: string): Promise<void>;
  /** A string literal. */
  literal(s: string): string;
  /** Columns of the adapter's own kept through a rebuild (ClickHouse's `version`). */
  extra(kind: RowKind): string[];
}

/** Rebuilds every existing table that lacks a column of the current layout. Idempotent. */
export async function upgradeTables(io: MigrationIo): Promise<void> {
  for (const kind of Object.keys(TABLES) as RowKind[]) {
    const spec = TABLES[kind];
    const have = await io.columns(spec.table);
    if (have.length === 0) continue;
    const missing = spec.columns.filter((c) => !have.includes(c.col));
    if (missing.length === 0) continue;
    const bad = missing.find((c) => c.dflt === undefined);
    if (bad !== undefined) {
      throw new StateError(
        ErrorCode.StoreFailed,
        `table ${spec.table} lacks column ${bad.col}, which has no default to upgrade it with`,
      );
    }
    const old = `${spec.table}_upgrading`;
    if ((await io.columns(old)).length > 0) {
      throw new StateError(
        ErrorCode.StoreFailed,
        `table ${old} exists: an earlier upgrade of ${spec.table} stopped midway; copy its rows back and drop it`,
      );
    }
    await io.rename(spec.table, old);
    await io.create(kind);
    const cols = [...spec.columns.map((c) => c.col), ...io.extra(kind)];
    const select = cols.map((col) => {
      const c = missing.find((m) => m.col === col);
      return c === undefined ? col : `${io.literal(c.dflt!)} AS ${col}`;
    });
    await io.run(
      `INSERT INTO ${io.name(spec.table)} (${cols.join(', ')}) SELECT ${select.join(', ')} FROM ${io.name(old)}`,
    );
    await io.run(`DROP TABLE ${io.name(old)}`);
  }
}
