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
import { ColumnChunks, appendInto, columnChunks } from './duckdb-chunks.ts';
import { readSeries, seriesTokenChunks } from './duckdb-series.ts';
import { createSql, duckDbMigrationIo, keyFixesTime, mergeSql } from './duckdb-sql.ts';
import type { EncodedBatch, EncodedSink } from './encoded.ts';
import { compileDuckDbStoreOptions, type DuckDbStoreOptions } from './options.ts';
import { EncodedInserts } from './row-inserts.ts';
import {
  aliasesOf,
  canonicalNames,
  checkRange,
  planSeries,
  planSteps,
  retentionCutoffMs,
  seriesSources,
  zeroFill,
  zeroSeries,
} from './shared.ts';
import type { RowKind, TimeSeriesStore, TokenLinkRow } from './types.ts';

const js = (v: unknown): unknown => (typeof v === 'bigint' ? Number(v) : v);

/** A query's rows as plain objects (BIGINTs as numbers). */
async function readRows(
  conn: DuckDBConnection,
  sql: string,
  values: readonly (string | number)[] = [],
): Promise<Record<string, unknown>[]> {
  const reader = await conn.runAndReadAll(
    sql,
    values.map((v) => (typeof v === 'number' ? BigInt(v) : v)),
  );
  return reader.getRowObjectsJS().map((r) => {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r)) o[k] = Array.isArray(v) ? v.map(js) : js(v);
    return o;
  });
}

/** Whether token_links has a row. */
async function hasLinks(conn: DuckDBConnection): Promise<boolean> {
  const rows = await readRows(conn, 'SELECT count(*) AS n FROM (SELECT 1 FROM token_links LIMIT 1)');
  return Number(rows[0]?.['n'] ?? 1) > 0;
}

/**
 * Token lists longer than this are looked up in token_links through a
 * temporary table, not one query parameter per token: DuckDB parses, binds
 * and plans a parameter as an expression of its own, in many small
 * allocations of glibc's malloc (not its buffer pool). The forecast round's
 * `activeTokens` under one-off users looked up ~200,000 tokens in one
 * query: ~300 MB of such allocations, freed but kept by malloc, fragmented,
 * for the life of the process (issue 11; bench/store-memory.ts).
 */
const LOOKUP_PARAMS = 64;

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

class DuckDbStore extends EncodedInserts implements TimeSeriesStore, EncodedSink {
  readonly #opts: Readonly<DuckDbStoreOptions>;
  #instance: DuckDBInstance | undefined;
  #conn: DuckDBConnection | undefined;
  /**
   * Each table's chunk writer, made on its first batch and kept (see
   * appendInto): its chunk holds a few hundred KB of DuckDB memory (records:
   * 2048 rows of 17 columns, 16 bytes a VARCHAR slot), its strings freed
   * after each append.
   */
  readonly #chunks = new Map<RowKind, ColumnChunks>();
  #tokenChunks: ColumnChunks | undefined;
  #seriesChunks: ColumnChunks | undefined;
  /**
   * Whether token_links may have rows: false only when it had none at open
   * (or after retention) and no links were written since. Most nodes never
   * link tokens, and the forecast round reads every active token's aliases
   * (a query per token) and canonical names.
   */
  #linksMayExist = true;
  /** Links inserts called so far (see enforceRetention). */
  #linkInserts = 0;
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
      this.#linksMayExist = await hasLinks(conn);
    });
  }

  /** Writes a batch encoded (and deduplicated) by `encodeRows`, keeping keys unique in the table. */
  override async insertEncoded(batch: EncodedBatch): Promise<void> {
    if (batch.rows === 0) return;
    if (batch.kind === 'links') {
      this.#linksMayExist = true;
      this.#linkInserts++;
    }
    const spec: TableSpec = TABLES[batch.kind];
    const chunks = this.#chunksOf(batch.kind);
    const stage = `stage_${spec.table}`;
    const statements = mergeSql(spec, stage);
    const range = keyFixesTime(spec) ? timeRange(spec, batch) : [];
    await this.#serial(async (conn) => {
      // A fresh stage per batch: rows deleted from a temporary table keep its memory.
      await conn.run(`CREATE OR REPLACE TEMP TABLE ${stage} AS SELECT * FROM ${spec.table} LIMIT 0`);
      try {
        await appendInto(conn, stage, batch, chunks);
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

  #chunksOf(kind: RowKind): ColumnChunks {
    let w = this.#chunks.get(kind);
    if (w === undefined) this.#chunks.set(kind, (w = columnChunks(TABLES[kind])));
    return w;
  }

  async #select(sql: string, values: (string | number)[] = []): Promise<Record<string, unknown>[]> {
    return await this.#serial((conn) => readRows(conn, sql, values));
  }

  async #rows<K extends RowKind>(kind: K, where: string, order: string, values: (string | number)[]) {
    const spec = TABLES[kind];
    const rows = await this.#select(`SELECT * FROM ${spec.table} WHERE ${where} ORDER BY ${order}`, values);
    return rows.map((r) => fromColumns(kind, r));
  }

  #lookup = async (column: 'from_token' | 'to_token', tokens: readonly string[]): Promise<TokenLinkRow[]> => {
    if (tokens.length === 0 || !this.#linksMayExist) return [];
    if (tokens.length <= LOOKUP_PARAMS) {
      const marks = tokens.map((_, i) => `$${i + 1}`).join(', ');
      const rows = await this.#select(`SELECT * FROM token_links WHERE ${column} IN (${marks})`, [...tokens]);
      return rows.map((r) => fromColumns('links', r));
    }
    const rows = await this.#serial(async (conn) => {
      await conn.run('CREATE OR REPLACE TEMP TABLE lookup_tokens (token VARCHAR NOT NULL)');
      try {
        this.#tokenChunks ??= new ColumnChunks([{ col: 'token', field: 'token', type: 'str' }]);
        await appendInto(
          conn,
          'lookup_tokens',
          { columns: [tokens], rows: tokens.length },
          this.#tokenChunks,
        );
        return await readRows(
          conn,
          `SELECT * FROM token_links WHERE ${column} IN (SELECT token FROM lookup_tokens)`,
        );
      } finally {
        await conn.run('DROP TABLE lookup_tokens');
      }
    });
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

  async tokenSeries(tokens: readonly string[], fromMs: number, toMs: number, stepMs: number) {
    const plan = planSeries(tokens, fromMs, toMs, stepMs);
    if (plan.steps === 0 || tokens.length === 0) return zeroSeries(tokens.length, plan.steps);
    const sources = await seriesSources(tokens, this.#lookup);
    return await this.#serial((conn) => {
      this.#seriesChunks ??= seriesTokenChunks();
      return readSeries(conn, this.#seriesChunks, plan, stepMs, tokens.length, sources);
    });
  }

  async activeTokens(fromMs: number, toMs: number): Promise<string[]> {
    checkRange(fromMs, toMs);
    // One column read as one array: under one-off users this is every user
    // of the window (hundreds of thousands), not worth an object per row.
    const tokens = await this.#serial(async (conn) => {
      const reader = await conn.runAndReadAll(
        `SELECT token FROM records WHERE time_ms >= $1 AND time_ms < $2
         UNION SELECT token FROM buckets WHERE start_ms >= $1 AND start_ms < $2`,
        [BigInt(fromMs), BigInt(toMs)],
      );
      return (reader.getColumnsJS()[0] ?? []).map(String);
    });
    // UNION leaves each token once; without links each is its own name.
    if (!this.#linksMayExist) return tokens.sort();
    return await canonicalNames(tokens, this.#lookup);
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
    const inserts = this.#linkInserts;
    await this.#serial(async (conn) => {
      for (const spec of Object.values(TABLES)) {
        await conn.run(`DELETE FROM ${spec.table} WHERE ${spec.timeCol} < $1`, [BigInt(cutoff)]);
      }
      // A links insert called meanwhile (queued behind this) sets it again.
      const left = await hasLinks(conn);
      if (inserts === this.#linkInserts) this.#linksMayExist = left;
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
