/**
 * Batches writes in front of any {@link TimeSeriesStore}: flushes a kind's
 * rows when `maxRows` are waiting or `maxDelayMs` after the first one. A
 * batch the store refuses goes to the disk {@link Spool} and is replayed, in
 * order, with backoff on the Clock; while anything waits in the spool, new
 * batches queue behind it, so the store sees every batch in the order
 * accepted. A store that is up but slower than the rows coming in is
 * treated alike: past MAX_QUEUED_ROWS waiting in memory, the waiting batches
 * go to the spool and are replayed once the store caught up, so memory stays
 * bounded (only a batch whose insert fails while newer ones are being
 * spilled lands after them). Nothing is dropped: past the spool's bound
 * `add` throws StateError SpoolFull (and counts it) and the refused rows
 * stay with the caller; `tryAdd` returns false instead, for writers that
 * count refused rows and go on (the collector, the forecast cadence).
 */
import { ErrorCode, StateError, invalidField, type TimerHandle } from '../lib/index.ts';
import { compileBatcherOptions, type BatcherOptions, type BatcherStats } from './batcher-options.ts';
import { rowProblem } from './columns.ts';
import { rowKey } from './shared.ts';
import { insertInto } from './row-inserts.ts';
import { Spool, type SpoolBatch } from './spool.ts';
import { RowKind, type RowOf, type TimeSeriesStore } from './types.ts';

const KINDS = Object.values(RowKind);

/**
 * Most rows held in memory waiting for the store (flushed, not yet
 * inserted). Past it the waiting batches go to the spool, and later ones
 * after them, until the store has caught up: a store slower than the rows
 * coming in costs disk, not memory (about 25 MB of rows at most).
 */
export const MAX_QUEUED_ROWS = 50_000;

/**
 * Most rows taken from memory for the spool and not yet written to it. One
 * writer spills them in order; when the spool's disk writes are slower than
 * the rows coming in, `add` refuses rows (StateError SpoolFull, counted)
 * past this instead of holding every spilled batch in memory: a node that
 * forecast a million one-off tokens on its check thread held hundreds of
 * MB of forecast rows waiting for the spool (issue 11).
 */
export const MAX_SPILLING_ROWS = 2 * MAX_QUEUED_ROWS;

export class Batcher {
  readonly #store: TimeSeriesStore;
  readonly #opts: Readonly<BatcherOptions>;
  readonly #spool: Spool;
  readonly #buffers = new Map<RowKind, object[]>();
  /** Batches the spool refused (full or failing); replayed after the spool. */
  readonly #overflow: SpoolBatch[] = [];
  /** Flushed batches waiting for the store, oldest first (each has a step on the chain). */
  #queued: SpoolBatch[] = [];
  #queuedRows = 0;
  /** Batches taken for the spool, not yet written to it, oldest first; one writer drains them. */
  #spillQueue: SpoolBatch[] = [];
  #spillRows = 0;
  /** The spill writer while it runs. */
  #spilling: Promise<void> | undefined;
  #chain: Promise<void> = Promise.resolve();
  /** Spool operations run one at a time (a spill appends beside the chain's replay). */
  #spoolLock: Promise<unknown> = Promise.resolve();
  #flushTimer: TimerHandle | undefined;
  #retryTimer: TimerHandle | undefined;
  #retryMs: number;
  #closed = false;
  #drainWaiters: (() => void)[] = [];
  readonly #stats: Omit<BatcherStats, 'spoolBytes' | 'spoolBatches' | 'pendingRows'> = {
    accepted: 0,
    inserted: 0,
    batches: 0,
    spooled: 0,
    replayed: 0,
    failures: 0,
    spoolFull: 0,
    corrupt: 0,
    lastError: null,
  };

  /** Opens (or creates) the spool; a spool left by a previous process is replayed at once. */
  constructor(store: TimeSeriesStore, options: Partial<BatcherOptions>) {
    this.#store = store;
    this.#opts = compileBatcherOptions(options);
    this.#retryMs = this.#opts.retryBaseMs;
    this.#spool = new Spool(this.#opts.spoolDir, this.#opts.spoolMaxBytes);
    if (this.#spool.pending) this.#enqueue(() => this.#replay());
  }

  /**
   * Accepts one row. Throws InputError for a row without its key, StateError
   * SpoolFull while the spool is past its bound, StateError Unavailable after
   * `close`. Writers that go on past a refusal use {@link tryAdd}.
   */
  add<K extends RowKind>(kind: K, row: RowOf[K]): void {
    if (this.#closed) throw new StateError(ErrorCode.Unavailable, 'batcher is closed');
    this.#check(kind, row);
    if (this.refusal !== undefined) {
      this.#stats.spoolFull++;
      throw this.#spoolFull(kind);
    }
    this.#push(kind, row);
  }

  /**
   * Why rows are refused now: SpoolFull while the spool is past its bound
   * (or its writer too far behind), Unavailable once closed; undefined while
   * rows are taken. Two comparisons, no error built.
   */
  get refusal(): ErrorCode | undefined {
    if (this.#closed) return ErrorCode.Unavailable;
    if (this.#spillRows > MAX_SPILLING_ROWS || this.#overflow.length > 0) return ErrorCode.SpoolFull;
    return undefined;
  }

  /**
   * Accepts one row as {@link add} does, or returns false where `add` would
   * throw a StateError ({@link refusal}), counting a SpoolFull refusal the
   * same way but building no error: the collection worker refusing every row
   * of a full spool one thrown error at a time held its thread for seconds
   * (issue 11). A bad row still throws InputError; under a full spool it is
   * refused unchecked.
   */
  tryAdd<K extends RowKind>(kind: K, row: RowOf[K]): boolean {
    const refusal = this.refusal;
    if (refusal !== undefined) {
      if (refusal === ErrorCode.SpoolFull) this.#stats.spoolFull++;
      return false;
    }
    this.#check(kind, row);
    this.#push(kind, row);
    return true;
  }

  /** Throws InputError naming the field of a row that cannot be stored. */
  #check(kind: RowKind, row: unknown): void {
    if (!KINDS.includes(kind)) throw invalidField('kind', `one of ${KINDS.join(', ')}`, kind);
    if (typeof row !== 'object' || row === null) throw invalidField(`${kind} row`, 'an object', row);
    const problem = rowProblem(kind, row);
    if (problem !== undefined) throw invalidField(problem.field, problem.expected, problem.value);
    if (rowKey(kind, row as RowOf[typeof kind]) === '')
      throw invalidField(`${kind}.id`, 'a non-empty string', '');
  }

  #spoolFull(kind: RowKind): StateError {
    const message =
      this.#spillRows > MAX_SPILLING_ROWS
        ? `the store is behind and the spool in ${this.#opts.spoolDir} cannot take rows as fast as they come (${this.#spillRows} rows wait for it, at most ${MAX_SPILLING_ROWS}); ${kind} row refused, not dropped`
        : `spool in ${this.#opts.spoolDir} is full (${this.#spool.bytes} bytes, spoolMaxBytes ${this.#opts.spoolMaxBytes}) and the store is not answering; ${kind} row refused, not dropped`;
    return new StateError(ErrorCode.SpoolFull, message, { field: 'spoolMaxBytes' });
  }

  #push(kind: RowKind, row: object): void {
    let buf = this.#buffers.get(kind);
    if (buf === undefined) this.#buffers.set(kind, (buf = []));
    buf.push(row);
    this.#stats.accepted++;
    if (buf.length >= this.#opts.maxRows) this.#flushKind(kind);
    else
      this.#flushTimer ??= this.#opts.clock.setTimeout(() => {
        this.#flushTimer = undefined;
        this.#flushAll();
      }, this.#opts.maxDelayMs);
  }

  /** Hands every buffered row to the store (or the spool) and waits for that. */
  async flush(): Promise<void> {
    this.#flushAll();
    await this.#chain;
  }

  /** Flushes, then waits until the spool and overflow are empty (the store has everything). */
  async drain(): Promise<void> {
    await this.flush();
    if (!this.#backlog()) return;
    await new Promise<void>((resolve) => this.#drainWaiters.push(resolve));
  }

  /**
   * Flushes what is buffered, stops retrying and closes the spool; what the
   * store has not taken stays in the spool for the next process. Does not
   * close the store.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
    if (this.#retryTimer !== undefined) this.#opts.clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    await this.#chain;
    // Batches held in memory go to disk even past the bound: losing them is worse.
    await this.#spoolLock;
    for (const batch of this.#overflow.splice(0)) await this.#spool.append(batch, true);
    await this.#spool.close();
  }

  stats(): BatcherStats {
    let pendingRows = 0;
    for (const b of this.#buffers.values()) pendingRows += b.length;
    for (const b of this.#overflow) pendingRows += b.rows.length;
    pendingRows += this.#queuedRows + this.#spillRows;
    return {
      ...this.#stats,
      spoolBytes: this.#spool.bytes,
      spoolBatches: this.#spool.batches,
      pendingRows,
    };
  }

  #backlog(): boolean {
    return this.#spool.pending || this.#overflow.length > 0 || this.#spilling !== undefined;
  }

  /** Runs a spool operation after the ones before it. */
  #locked<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#spoolLock.then(op);
    this.#spoolLock = run.catch(() => undefined);
    return run;
  }

  #enqueue(step: () => Promise<void>): void {
    this.#chain = this.#chain.then(step).catch((err: unknown) => {
      // A step never throws by design; if one does, record it rather than lose the chain.
      this.#stats.lastError = err instanceof Error ? err.message : String(err);
    });
  }

  #flushAll(): void {
    if (this.#flushTimer !== undefined) this.#opts.clock.clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    for (const kind of this.#buffers.keys()) this.#flushKind(kind);
  }

  #flushKind(kind: RowKind): void {
    const rows = this.#buffers.get(kind);
    if (rows === undefined || rows.length === 0) return;
    this.#buffers.set(kind, []);
    this.#queued.push({ kind, rows });
    this.#queuedRows += rows.length;
    if (this.#queuedRows > MAX_QUEUED_ROWS) this.#spill();
    else this.#enqueue(() => this.#next());
  }

  /** Delivers the oldest waiting batch (none when a spill took it). */
  async #next(): Promise<void> {
    const batch = this.#queued.shift();
    if (batch === undefined) return;
    this.#queuedRows -= batch.rows.length;
    await this.#deliver(batch);
  }

  /**
   * The store is behind by more than MAX_QUEUED_ROWS: every waiting batch
   * goes to the spool now, in order, after those already on their way
   * (later ones follow them there, see #backlog); the one spill writer is
   * started if it is not running, and a replay queued behind the batch
   * being inserted.
   */
  #spill(): void {
    for (const batch of this.#queued) this.#spillQueue.push(batch);
    this.#spillRows += this.#queuedRows;
    this.#queued = [];
    this.#queuedRows = 0;
    if (this.#spilling !== undefined) return;
    const written = (async () => {
      try {
        for (let batch = this.#spillQueue.shift(); batch !== undefined; batch = this.#spillQueue.shift()) {
          this.#spillRows -= batch.rows.length;
          await this.#toSpool(batch);
        }
      } finally {
        this.#spilling = undefined;
      }
    })();
    this.#spilling = written;
    this.#enqueue(async () => {
      await written;
      await this.#replay();
    });
  }

  async #deliver(batch: SpoolBatch): Promise<void> {
    if (!this.#backlog()) {
      try {
        await this.#insert(batch);
        this.#stats.inserted += batch.rows.length;
        this.#stats.batches++;
        return;
      } catch (err) {
        this.#failed(err);
      }
    }
    await this.#toSpool(batch);
    this.#scheduleRetry();
  }

  #insert(batch: SpoolBatch): Promise<void> {
    return insertInto(this.#store, batch.kind, batch.rows as RowOf[typeof batch.kind][]);
  }

  #failed(err: unknown): void {
    this.#stats.failures++;
    this.#stats.lastError = err instanceof Error ? err.message : String(err);
  }

  async #toSpool(batch: SpoolBatch): Promise<void> {
    if (this.#overflow.length === 0) {
      try {
        await this.#locked(() => this.#spool.append(batch));
        this.#stats.spooled += batch.rows.length;
        return;
      } catch (err) {
        this.#failed(err);
      }
    }
    this.#overflow.push(batch);
  }

  #scheduleRetry(): void {
    if (this.#retryTimer !== undefined || this.#closed) return;
    const delay = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, this.#opts.retryMaxMs);
    this.#retryTimer = this.#opts.clock.setTimeout(() => {
      this.#retryTimer = undefined;
      this.#enqueue(() => this.#replay());
    }, delay);
  }

  /** Replays the spool in order, then the overflow; stops at the first failure and retries later. */
  async #replay(): Promise<void> {
    for (;;) {
      const read = await this.#locked(() => this.#spool.next());
      if (read === undefined) break;
      if (read.entry !== undefined) {
        try {
          await this.#insert(read.entry);
        } catch (err) {
          this.#failed(err);
          return this.#scheduleRetry();
        }
        this.#stats.replayed += read.entry.rows.length;
        this.#stats.batches++;
      } else this.#stats.corrupt++;
      await this.#locked(() => this.#spool.commit(read.end));
    }
    while (this.#overflow.length > 0) {
      const batch = this.#overflow[0]!;
      try {
        await this.#insert(batch);
      } catch (err) {
        this.#failed(err);
        return this.#scheduleRetry();
      }
      this.#overflow.shift();
      this.#stats.replayed += batch.rows.length;
      this.#stats.batches++;
    }
    this.#retryMs = this.#opts.retryBaseMs;
    for (const w of this.#drainWaiters.splice(0)) w();
  }
}
