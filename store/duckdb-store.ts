/**
 * The embedded store: DuckDB in-process (`@duckdb/node-api`). Tables have no
 * primary key (its in-memory index grew with every row kept, and made most
 * of the file): a batch is appended to a temporary staging table and moved
 * into its table in one transaction that keeps keys unique, looking only at
 * the rows of the batch's time range: `INSERT ... WHERE NOT EXISTS` for ids
 * (the first write stands), delete-then-insert for replacing keys (the last
 * write wins). So a replayed batch never creates a duplicate, and memory
 * and the file grow with the rows, not with an index of every key.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { ErrorCode, StateError } from '../lib/index.ts';
import { TABLES, fromColumns, type TableSpec } from './columns.ts';
import { eventLevelRows } from './event-levels.ts';
import { upgradeTables } from './migrate.ts';
import {
  columnWriters,
  createSql,
  duckDbMigrationIo,
  keyFixesTime,
  mergeSql,
  type ValueWriter,
} from './duckdb-sql.ts';
import type { EncodedBatch, EncodedSink } from './encoded.ts';
import { compileDuckDbStoreOptions, type DuckDbStoreOptions } from './options.ts';
import { EncodedInserts } from './row-inserts.ts';
import { aliasesOf, canonicalNames, checkRange, planSteps, retentionCutoffMs, zeroFill } from './shared.ts';
import type { RowKind, TimeSeriesStore, TokenLinkRow } from './types.ts';

/** Appends an encoded batch to `table` and flushes it; the appender is closed either way. */
async function appendInto(
  conn: DuckDBConnection,
  table: string,
  batch: EncodedBatch,
  writers: readonly ValueWriter[],
): Promise<void> {
  const a = await conn.createAppender(table);
  const { columns, rows } = batch;
  try {
    for (let i = 0; i < rows; i++) {
      for (let c = 0; c < writers.length; c++) writers[c]!(a, columns[c]![i]);
      a.endRow();
    }
    a.flushSync();
  } catch (err) {
    a.clear(); // drops the rows, so that closing does not flush them again
    throw err;
  } finally {
    a.closeSync();
  }
}

/** The least and greatest of a batch's time column, as DuckDB BIGINT parameters. */
function timeRange(spec: TableSpec, batch: EncodedBatch): [bigint, bigint] {
  const values = batch.columns[spec.columns.findIndex((c) => c.col === spec.timeCol)] as number[];
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [BigInt(Math.trunc(lo)), BigInt(Math.trunc(hi))];
}

/**
 * DuckDB's buffer pool is bounded (beyond it, it spills to the database's
 * temporary folder) and it runs one worker thread, beside the check path:
 * its defaults (80 % of the machine's memory, a thread per core) let a
 * node's resident set grow by gigabytes under a backlog of inserts (issue 11).
 * 96 MB holds the blocks that inserts (stage tables, the merge's range
 * reads) touch. With 256 MB (and glibc's default arenas, see
 * bin/headroom.js) a node under one-off users held ~160 MB more outside
 * V8's heaps (bench/faults.ts --faults one-off: 388 MB there, 230 MB now).
 */
const DUCKDB_SETTINGS = { memory_limit: '96MB', threads: '1' };

const js = (v: unknown): unknown => (typeof v === 'bigint' ? Number(v) : v);

class DuckDbStore extends EncodedInserts implements TimeSeriesStore, EncodedSink {
  readonly #opts: Readonly<DuckDbStoreOptions>;
  #instance: DuckDBInstance | undefined;
  #conn: DuckDBConnection | undefined;
  readonly #columnWriters = new Map<RowKind, ValueWriter[]>();
  /** DuckDB connections run one statement at a time: serialise our calls. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(opts: Readonly<DuckDbStoreOptions>) {
    super();
    this.#opts = opts;
  }

  #serial<T>(fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
    const run = this.#queue.then(async () => {
      if (this.#conn === undefined)
        throw new StateError(ErrorCode.Unavailable, 'duckdb store is not open (call init)');
      return await fn(this.#conn);
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async init(): Promise<void> {
    if (this.#conn !== undefined) return;
    if (this.#opts.path !== ':memory:') await mkdir(dirname(this.#opts.path), { recursive: true });
    this.#instance = await DuckDBInstance.create(this.#opts.path, DUCKDB_SETTINGS);
    this.#conn = await this.#instance.connect();
    await this.#serial(async (conn) => {
      const create = (spec: TableSpec): Promise<unknown> => conn.run(createSql(spec));
      await upgradeTables(duckDbMigrationIo(conn, create));
      for (const spec of Object.values(TABLES)) {
        await create(spec);
      }
    });
  }

  /** Writes a batch encoded (and deduplicated) by `encodeRows`, keeping keys unique in the table. */
  override async insertEncoded(batch: EncodedBatch): Promise<void> {
    if (batch.rows === 0) return;
    const spec: TableSpec = TABLES[batch.kind];
    const writers = this.#writers(batch.kind);
    const stage = `stage_${spec.table}`;
    const statements = mergeSql(spec, stage);
    const range = keyFixesTime(spec) ? timeRange(spec, batch) : [];
    await this.#serial(async (conn) => {
      // A fresh stage per batch: rows deleted from a temporary table keep its memory.
      await conn.run(`CREATE OR REPLACE TEMP TABLE ${stage} AS SELECT * FROM ${spec.table} LIMIT 0`);
      try {
        await appendInto(conn, stage, batch, writers);
        await conn.run('BEGIN TRANSACTION');
        try {
          for (const sql of statements) await conn.run(sql, sql.includes('$1') ? range : undefined);
          await conn.run('COMMIT');
        } catch (err) {
          await conn.run('ROLLBACK');
          throw err;
        }
      } finally {
        await conn.run(`DROP TABLE ${stage}`);
      }
    });
  }

  #writers(kind: RowKind): ValueWriter[] {
    let w = this.#columnWriters.get(kind);
    if (w === undefined) this.#columnWriters.set(kind, (w = columnWriters(TABLES[kind])));
    return w;
  }

  async #select(sql: string, values: (string | number)[] = []): Promise<Record<string, unknown>[]> {
    return await this.#serial(async (conn) => {
      const reader = await conn.runAndReadAll(
        sql,
        values.map((v) => (typeof v === 'number' ? BigInt(v) : v)),
      );
      return reader.getRowObjectsJS().map((r) => {
        const o: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(r)) o[k] = Array.isArray(v) ? v.map(js) : js(v);
        return o;
      });
    });
  }

  async #rows<K extends RowKind>(kind: K, where: string, order: string, values: (string | number)[]) {
    const spec = TABLES[kind];
    const rows = await this.#select(`SELECT * FROM ${spec.table} WHERE ${where} ORDER BY ${order}`, values);
    return rows.map((r) => fromColumns(kind, r));
  }

  #lookup = async (column: 'from_token' | 'to_token', tokens: readonly string[]): Promise<TokenLinkRow[]> => {
    const marks = tokens.map((_, i) => `$${i + 1}`).join(', ');
    const rows = await this.#select(`SELECT * FROM token_links WHERE ${column} IN (${marks})`, [...tokens]);
    return rows.map((r) => fromColumns('links', r));
  };

  async tokenBuckets(token: string, fromMs: number, toMs: number, stepMs: number) {
    const plan = planSteps(fromMs, toMs, stepMs);
    const tokens = await aliasesOf(token, this.#lookup);
    const marks = tokens.map((_, i) => `$${i + 5}`).join(', ');
    const rows = await this.#select(
      `SELECT (start_ms // $1) * $1 AS s, sum(requests) AS requests, sum(allowed) AS allowed,
        sum(denied) AS denied, sum(cost) AS cost FROM buckets
       WHERE resolution = $2 AND start_ms >= $3 AND start_ms < $4 AND token IN (${marks}) GROUP BY s`,
      [stepMs, plan.resolution, plan.firstMs, plan.endMs, ...tokens],
    );
    return zeroFill(token, plan, stepMs, rows);
  }

  async activeTokens(fromMs: number, toMs: number): Promise<string[]> {
    checkRange(fromMs, toMs);
    const rows = await this.#select(
      `SELECT DISTINCT token FROM records WHERE time_ms >= $1 AND time_ms < $2
       UNION SELECT DISTINCT token FROM buckets WHERE start_ms >= $1 AND start_ms < $2`,
      [fromMs, toMs],
    );
    return await canonicalNames(
      rows.map((r) => String(r['token'])),
      this.#lookup,
    );
  }

  async events(fromMs: number, toMs: number, topic?: string) {
    checkRange(fromMs, toMs);
    const byTopic = topic === undefined ? '' : ' AND topic = $3';
    const values: (string | number)[] = topic === undefined ? [fromMs, toMs] : [fromMs, toMs, topic];
    return await this.#rows('events', `time_ms >= $1 AND time_ms < $2${byTopic}`, 'time_ms, id', values);
  }

  async eventLevels(fromMs: number, toMs: number, stepMs: number, topic?: string) {
    const plan = planSteps(fromMs, toMs, stepMs);
    return eventLevelRows(await this.events(plan.firstMs, plan.endMs, topic), plan, stepMs, topic);
  }

  async forecasts(token: string, fromMs: number, toMs: number) {
    checkRange(fromMs, toMs);
    return await this.#rows(
      'forecasts',
      'token = $1 AND target_ms >= $2 AND target_ms < $3',
      'target_ms, horizon_ms, model, made_ms',
      [token, fromMs, toMs],
    );
  }

  async records(fromMs: number, toMs: number) {
    checkRange(fromMs, toMs);
    return await this.#rows('records', 'time_ms >= $1 AND time_ms < $2', 'time_ms, id', [fromMs, toMs]);
  }

  async decisions(fromMs: number, toMs: number) {
    checkRange(fromMs, toMs);
    return await this.#rows('decisions', 'time_ms >= $1 AND time_ms < $2', 'time_ms, id', [fromMs, toMs]);
  }

  async enforceRetention(nowMs: number): Promise<void> {
    const cutoff = retentionCutoffMs(nowMs, this.#opts.retentionMs);
    await this.#serial(async (conn) => {
      for (const spec of Object.values(TABLES)) {
        await conn.run(`DELETE FROM ${spec.table} WHERE ${spec.timeCol} < $1`, [BigInt(cutoff)]);
      }
    });
  }

  async close(): Promise<void> {
    await this.#queue;
    this.#conn?.closeSync();
    this.#instance?.closeSync();
    this.#conn = undefined;
    this.#instance = undefined;
  }

  tables(): string[] {
    return Object.values(TABLES).map((t) => t.table);
  }

  async dumpAll(): Promise<string> {
    const lines: string[] = [];
    for (const table of this.tables()) {
      for (const row of await this.#select(`SELECT * FROM ${table}`))
        lines.push(`${table}\t${JSON.stringify(row)}`);
    }
    return lines.join('\n');
  }
}

/**
 * The embedded DuckDB store. Options are validated here (InvalidOptions);
 * call `init()` before use.
 * @example const store = createDuckDbStore({ path: 'data/headroom.duckdb' }); await store.init();
 */
export function createDuckDbStore(options: Partial<DuckDbStoreOptions>): TimeSeriesStore & EncodedSink {
  return new DuckDbStore(compileDuckDbStoreOptions(options));
}
