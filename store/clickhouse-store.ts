/**
 * The cluster store: ClickHouse over HTTP with `@clickhouse/client`.
 *
 * The schema works on ClickHouse 18.16 (Debian's) and current releases: no
 * DateTime64, TTL, query parameters or toStartOfInterval. Times are Int64
 * milliseconds; each table is partitioned by UTC day
 * (`toYYYYMMDD(toDateTime(intDiv(ms, 1000), 'UTC'))`) and retention drops
 * whole old partitions. Tables are ReplacingMergeTree, so a replayed batch
 * merges away eventually, and every read deduplicates by key itself
 * (`LIMIT 1 BY key`, latest `version` first), so reads are exact before any
 * merge. The client's default settings were checked against 18.16: ping,
 * DDL, JSONEachRow insert and select all work unchanged.
 */
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { ErrorCode, StateError, type Clock } from '../lib/index.ts';
import { chInt, chString, clickHouseMigrationIo, createTableSql } from './clickhouse-schema.ts';
import { readSeries } from './clickhouse-series.ts';
import { TABLES, fromColumns, type TableSpec } from './columns.ts';
import type { EncodedBatch, EncodedSink } from './encoded.ts';
import { eventLevelRows } from './event-levels.ts';
import { upgradeTables } from './migrate.ts';
import { compileClickHouseStoreOptions, type ClickHouseStoreOptions } from './options.ts';
import { EncodedInserts } from './row-inserts.ts';
import {
  aliasesOf,
  canonicalNames,
  checkRange,
  planSeries,
  planSteps,
  retentionCutoffMs,
  seriesSources,
  yyyymmdd,
  zeroFill,
  zeroSeries,
} from './shared.ts';
import type { RowKind, RowOf, TimeSeriesStore, TokenLinkRow } from './types.ts';

class ClickHouseStore extends EncodedInserts implements TimeSeriesStore, EncodedSink {
  readonly #opts: Readonly<ClickHouseStoreOptions>;
  readonly #client: ClickHouseClient;
  readonly #clock: Clock;
  #version = 0;
  #closed = false;

  constructor(opts: Readonly<ClickHouseStoreOptions>) {
    super();
    this.#opts = opts;
    this.#clock = opts.clock;
    this.#client = createClient({
      url: opts.url,
      username: opts.username,
      password: opts.password,
      request_timeout: opts.requestTimeoutMs,
      // Failures reach the caller as StateError StoreFailed (and the batcher's
      // stats); the client's own console logging would only duplicate them.
      log: { level: ClickHouseLogLevel.OFF },
    });
  }

  #t(spec: TableSpec): string {
    return `${this.#opts.database}.${spec.table}`;
  }

  /** Replacing keys keep the latest write: versions grow across calls and process restarts. */
  #nextVersion(): number {
    // Wall time (microsecond scale, from the injected clock) keeps versions
    // increasing across restarts; the counter orders writes within the same
    // millisecond.
    this.#version = Math.max(this.#version + 1, this.#clock.now() * 1000);
    return this.#version;
  }

  async #run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new StateError(ErrorCode.Unavailable, 'clickhouse store is closed');
    try {
      return await fn();
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new StateError(ErrorCode.StoreFailed, `clickhouse ${what} failed: ${msg.slice(0, 300)}`, {
        cause: err,
      });
    }
  }

  async init(): Promise<void> {
    await this.#run('init', async () => {
      await this.#client.command({ query: `CREATE DATABASE IF NOT EXISTS ${this.#opts.database}` });
      await upgradeTables(clickHouseMigrationIo(this.#client, this.#opts.database));
      for (const kind of Object.keys(TABLES) as RowKind[]) {
        await this.#client.command({ query: createTableSql(this.#opts.database, kind) });
      }
    });
  }

  /** Writes a batch encoded (and deduplicated) by `encodeRows`, as JSONEachRow. */
  override async insertEncoded(batch: EncodedBatch): Promise<void> {
    if (batch.rows === 0) return;
    const spec = TABLES[batch.kind];
    const version = spec.replacing ? this.#nextVersion() : 0;
    const names = spec.columns.map((c) => c.col);
    const bools = spec.columns.map((c) => c.type === 'bool');
    const { columns } = batch;
    const values: Record<string, unknown>[] = [];
    for (let i = 0; i < batch.rows; i++) {
      const o: Record<string, unknown> = {};
      for (let c = 0; c < names.length; c++) {
        const v = columns[c]![i];
        o[names[c]!] = bools[c] ? (v ? 1 : 0) : v;
      }
      if (spec.replacing) o['version'] = version;
      values.push(o);
    }
    await this.#run(`insert into ${spec.table}`, () =>
      this.#client.insert({ table: this.#t(spec), values, format: 'JSONEachRow' }),
    );
  }

  async #select(query: string): Promise<Record<string, unknown>[]> {
    return await this.#run('query', async () => {
      const rs = await this.#client.query({ query, format: 'JSONEachRow' });
      return await rs.json<Record<string, unknown>>();
    });
  }

  /** Deduplicated rows of a kind: one per key (latest version for replacing keys). */
  async #rows<K extends RowKind>(kind: K, where: string, order: string): Promise<RowOf[K][]> {
    const spec = TABLES[kind];
    const latest = spec.replacing ? 'ORDER BY version DESC ' : '';
    const inner = `SELECT * FROM ${this.#t(spec)} WHERE ${where} ${latest}LIMIT 1 BY ${spec.key.join(', ')}`;
    const rows = await this.#select(`SELECT * FROM (${inner}) ORDER BY ${order}`);
    return rows.map((r) => fromColumns(kind, r));
  }

  #lookup = async (column: 'from_token' | 'to_token', tokens: readonly string[]): Promise<TokenLinkRow[]> =>
    await this.#rows('links', `${column} IN (${tokens.map(chString).join(', ')})`, 'time_ms');

  async tokenBuckets(token: string, fromMs: number, toMs: number, stepMs: number) {
    const plan = planSteps(fromMs, toMs, stepMs);
    const tokens = (await aliasesOf(token, this.#lookup)).map(chString).join(', ');
    const step = chInt(stepMs);
    const inner =
      `SELECT start_ms, requests, allowed, denied, cost FROM ${this.#t(TABLES.buckets)} ` +
      `WHERE resolution = ${chString(plan.resolution)} AND start_ms >= ${chInt(plan.firstMs)} ` +
      `AND start_ms < ${chInt(plan.endMs)} AND token IN (${tokens}) ` +
      `ORDER BY version DESC LIMIT 1 BY ${TABLES.buckets.key.join(', ')}`;
    const rows = await this.#select(
      `SELECT intDiv(start_ms, ${step}) * ${step} AS s, sum(requests) AS requests, sum(allowed) AS allowed, ` +
        `sum(denied) AS denied, sum(cost) AS cost FROM (${inner}) GROUP BY s`,
    );
    return zeroFill(token, plan, stepMs, rows);
  }

  async tokenSeries(tokens: readonly string[], fromMs: number, toMs: number, stepMs: number) {
    const plan = planSeries(tokens, fromMs, toMs, stepMs);
    if (plan.steps === 0 || tokens.length === 0) return zeroSeries(tokens.length, plan.steps);
    const sources = await seriesSources(tokens, this.#lookup);
    return await readSeries(this.#t(TABLES.buckets), plan, stepMs, tokens.length, sources, (query) =>
      this.#run(
        'query',
        async () => await (await this.#client.query({ query, format: 'TabSeparated' })).text(),
      ),
    );
  }

  async activeTokens(fromMs: number, toMs: number): Promise<string[]> {
    checkRange(fromMs, toMs);
    const [a, b] = [chInt(fromMs), chInt(toMs)];
    const rows = await this.#select(
      `SELECT DISTINCT token FROM ${this.#t(TABLES.records)} WHERE time_ms >= ${a} AND time_ms < ${b} ` +
        `UNION ALL SELECT DISTINCT token FROM ${this.#t(TABLES.buckets)} WHERE start_ms >= ${a} AND start_ms < ${b}`,
    );
    return await canonicalNames(
      rows.map((r) => String(r['token'])),
      this.#lookup,
    );
  }

  async events(fromMs: number, toMs: number, topic?: string) {
    checkRange(fromMs, toMs);
    const byTopic = topic === undefined ? '' : ` AND topic = ${chString(topic)}`;
    return await this.#rows(
      'events',
      `time_ms >= ${chInt(fromMs)} AND time_ms < ${chInt(toMs)}${byTopic}`,
      'time_ms, id',
    );
  }

  async eventLevels(fromMs: number, toMs: number, stepMs: number, topic?: string) {
    const plan = planSteps(fromMs, toMs, stepMs);
    return eventLevelRows(await this.events(plan.firstMs, plan.endMs, topic), plan, stepMs, topic);
  }

  async forecasts(token: string, fromMs: number, toMs: number) {
    checkRange(fromMs, toMs);
    return await this.#rows(
      'forecasts',
      `token = ${chString(token)} AND target_ms >= ${chInt(fromMs)} AND target_ms < ${chInt(toMs)}`,
      'target_ms, horizon_ms, model, made_ms',
    );
  }

  async records(fromMs: number, toMs: number) {
    checkRange(fromMs, toMs);
    return await this.#rows(
      'records',
      `time_ms >= ${chInt(fromMs)} AND time_ms < ${chInt(toMs)}`,
      'time_ms, id',
    );
  }

  async decisions(fromMs: number, toMs: number) {
    checkRange(fromMs, toMs);
    return await this.#rows(
      'decisions',
      `time_ms >= ${chInt(fromMs)} AND time_ms < ${chInt(toMs)}`,
      'time_ms, id',
    );
  }

  async enforceRetention(nowMs: number): Promise<void> {
    const keepFrom = yyyymmdd(retentionCutoffMs(nowMs, this.#opts.retentionMs));
    for (const spec of Object.values(TABLES)) {
      const parts = await this.#select(
        `SELECT DISTINCT partition FROM system.parts WHERE database = ${chString(this.#opts.database)} ` +
          `AND table = ${chString(spec.table)} AND active`,
      );
      for (const p of parts) {
        const day = Number(String(p['partition']).replace(/'/g, ''));
        if (Number.isInteger(day) && day < keepFrom) {
          await this.#run('retention', () =>
            this.#client.command({ query: `ALTER TABLE ${this.#t(spec)} DROP PARTITION ${chInt(day)}` }),
          );
        }
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#client.close();
  }

  tables(): string[] {
    return Object.values(TABLES).map((t) => t.table);
  }

  async dumpAll(): Promise<string> {
    const lines: string[] = [];
    for (const spec of Object.values(TABLES)) {
      for (const row of await this.#select(`SELECT * FROM ${this.#t(spec)}`)) {
        lines.push(`${spec.table}\t${JSON.stringify(row)}`);
      }
    }
    return lines.join('\n');
  }
}

/**
 * The ClickHouse store over HTTP. Options are validated here
 * (InvalidOptions); call `init()` before use: it creates the database and
 * tables when absent.
 * @example const store = createClickHouseStore({ url: 'http://127.0.0.1:8123', database: 'headroom' });
 */
export function createClickHouseStore(
  options: Partial<ClickHouseStoreOptions>,
): TimeSeriesStore & EncodedSink {
  return new ClickHouseStore(compileClickHouseStoreOptions(options));
}
