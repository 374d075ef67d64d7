/**
 * The `db` resource provider: a generic-pool of real PostgreSQL connections
 * (`pg`) whose size the pool manager moves ahead of predicted demand.
 */
import { createPool } from 'generic-pool';
import type { Pool } from 'generic-pool';
import pg from 'pg';
import { ErrorCode, StateError, SystemClock, invalidField, toHeadroomError } from '../../../lib/index.ts';
import type { Clock, HeadroomError } from '../../../lib/index.ts';
import type { ResourceProvider } from '../../../actors/index.ts';
import { startupStats } from './startup-stats.ts';
import { waitUntil } from './wait-until.ts';
import type { StartupStats } from './startup-stats.ts';
import type { DbProviderOptions } from './db-options.ts';

/**
 * generic-pool 3.x fixes `min` and `max` at construction and has no public
 * setter; these are the fields and methods it uses itself to hold `min`
 * (checked at construction, so an upgrade that moves them fails loudly).
 */
interface PoolInternals {
  _config: { min: number; max: number };
  _ensureMinimum(): void;
  _dispense(): void;
}

export interface DbProviderDeps {
  /** @default SystemClock */
  clock?: Clock;
  /** Every failed connect, warm-up or trim. @default none (still counted in `errors`) */
  onError?: (err: HeadroomError) => void;
}

/**
 * Units are groups of `connectionsPerUnit` connections. `setUnits(k)` sets
 * the pool's `min` to k units' worth of connections (generic-pool opens
 * them at once and keeps them open, each warmed with `warmQuery`) and its
 * `max` to the same (at least one connection), then closes idle
 * connections above it; borrowed ones above it are closed on release.
 * `readyUnits` counts open connections (idle or in use), `startingUnits`
 * those being opened. Each connection's start-up (connect + warm-up query)
 * is measured: `startup().p90Ms` is the lead time the pool manager needs.
 *
 * @example
 * const db = new DbProvider(compileDbProviderOptions({ database: 'test' }));
 * db.setUnits(4, Date.now());
 * await db.whenReady(5000);
 * const rows = await db.withConnection((c) => c.query('SELECT now()'));
 */
export class DbProvider implements ResourceProvider {
  readonly options: Readonly<DbProviderOptions>;
  readonly #clock: Clock;
  readonly #onError: (err: HeadroomError) => void;
  readonly #pool: Pool<pg.Client>;
  readonly #internals: PoolInternals;
  readonly #samples: number[] = [];
  readonly #broken = new WeakSet<pg.Client>();
  /** Connections the last `setUnits` asked for (the pool's `max` stays at least 1). */
  #wanted = 0;
  #errors = 0;
  #closed = false;

  constructor(options: Readonly<DbProviderOptions>, deps: DbProviderDeps = {}) {
    this.options = options;
    this.#clock = deps.clock ?? new SystemClock();
    this.#onError = deps.onError ?? (() => {});
    this.#pool = createPool<pg.Client>(
      {
        create: () => this.#open(),
        destroy: async (client) => {
          await client.end().catch(() => {});
        },
        validate: (client) => Promise.resolve(!this.#broken.has(client)),
      },
      { min: 0, max: 1, testOnBorrow: true, autostart: true },
    );
    this.#internals = this.#pool as unknown as PoolInternals;
    if (
      typeof this.#internals._config?.min !== 'number' ||
      typeof this.#internals._ensureMinimum !== 'function' ||
      typeof this.#internals._dispense !== 'function'
    )
      throw new StateError(ErrorCode.Internal, 'db provider: this generic-pool version has no _config.min', {
        retryable: false,
      });
    this.#pool.on('factoryCreateError', (err) => this.#fail(err));
    this.#pool.on('factoryDestroyError', (err) => this.#fail(err));
  }

  async #open(): Promise<pg.Client> {
    const o = this.options;
    const start = this.#clock.now();
    const client = new pg.Client({
      host: o.host,
      port: o.port,
      database: o.database,
      user: o.user,
      ...(o.password === null ? {} : { password: o.password }),
      application_name: o.applicationName,
      connectionTimeoutMillis: o.connectTimeoutMs,
      query_timeout: o.connectTimeoutMs,
    });
    // A connection the server drops is marked, then refused on borrow (validate).
    client.on('error', (err) => {
      this.#broken.add(client);
      this.#fail(err);
    });
    try {
      await client.connect();
      await client.query(o.warmQuery);
    } catch (err) {
      await client.end().catch(() => {});
      throw new StateError(
        ErrorCode.Unavailable,
        `db provider: cannot open a connection to ${o.host}:${o.port}/${o.database} as ${o.user}: ${String(
          (err as Error).message ?? err,
        )}`,
        { cause: err },
      );
    }
    this.#samples.push(this.#clock.now() - start);
    // Opened after a shrink asked for fewer: close the surplus (next turn, once it is idle).
    this.#clock.setTimeout(() => this.#trim(), 0);
    return client;
  }

  #fail(err: unknown): void {
    this.#errors += 1;
    this.#onError(toHeadroomError(err));
  }

  /** Closes idle connections above the target. */
  #trim(): void {
    if (this.#closed) return;
    const excess = Math.min(this.#pool.available, this.#pool.size - this.#wanted);
    for (let i = 0; i < excess; i++) {
      this.#pool.acquire().then(
        (c) => this.#pool.destroy(c),
        (err: unknown) => this.#fail(err),
      );
    }
  }

  setUnits(target: number, _nowMs: number): void {
    if (!(Number.isInteger(target) && target >= 0)) throw invalidField('units', 'an integer >= 0', target);
    if (this.#closed) throw new StateError(ErrorCode.Unavailable, 'db provider is closed');
    const units = Math.min(target, this.options.maxUnits);
    const conns = units * this.options.connectionsPerUnit;
    const cfg = this.#internals._config;
    this.#wanted = conns;
    cfg.min = conns;
    cfg.max = Math.max(1, conns);
    this.#internals._ensureMinimum();
    this.#internals._dispense();
    this.#trim();
  }

  /** Connections open (idle or borrowed). */
  get openConnections(): number {
    return this.#pool.available + this.#pool.borrowed;
  }

  /** Connections being opened. */
  get startingConnections(): number {
    return Math.max(0, this.#pool.size - this.openConnections);
  }

  readyUnits(_nowMs: number): number {
    return Math.floor(this.openConnections / this.options.connectionsPerUnit);
  }

  startingUnits(_nowMs: number): number {
    const cpu = this.options.connectionsPerUnit;
    return Math.ceil((this.openConnections + this.startingConnections) / cpu) - this.readyUnits(0);
  }

  /** Measured connection start-up (connect + warm-up query). */
  startup(): StartupStats {
    return startupStats(this.#samples);
  }

  /** Failed connects, warm-ups and closes so far. */
  get errors(): number {
    return this.#errors;
  }

  /**
   * Resolves once the pool holds the connections the last `setUnits` asked
   * for, all open, and none above; rejects after `timeoutMs`.
   */
  whenReady(timeoutMs: number): Promise<void> {
    return waitUntil(
      this.#clock,
      timeoutMs,
      20,
      () => this.openConnections === this.#wanted && this.startingConnections === 0,
      () =>
        `db provider: ${this.openConnections} of ${this.#wanted} connections open after ${timeoutMs} ms (${this.#errors} errors)`,
    );
  }

  /**
   * Borrows a connection for `fn` (waiting while all are busy); one above
   * the current target is closed on return.
   */
  async withConnection<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = await this.#pool.acquire();
    try {
      return await fn(client);
    } finally {
      if (this.#pool.size > this.#wanted) await this.#pool.destroy(client);
      else await this.#pool.release(client);
    }
  }

  /** Closes every connection; the provider cannot be used after. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#internals._config.min = 0;
    await this.#pool.drain();
    await this.#pool.clear();
  }
}
