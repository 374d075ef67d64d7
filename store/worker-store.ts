/**
 * A store whose adapter runs on a worker thread: every call is posted to the
 * worker, which owns the real DuckDB or ClickHouse adapter, and answered from
 * there, so that DuckDB's synchronous appender (or ClickHouse's encoding)
 * never runs on the caller's thread; inserts cross encoded by column. Reads go
 * through the worker too (an embedded DuckDB file has one owner). Errors come
 * back as the same classes and codes (InputError, StateError), so the
 * Batcher spools and reports exactly as with the adapter itself. A host entry
 * ({@link WorkerHost}) may run more on that thread (a node's collectors:
 * services/collection/collection-worker.ts), reached with `call` and `post`.
 */
import { Worker } from 'node:worker_threads';
import { ErrorCode, HeadroomError, InputError, StateError } from '../lib/index.ts';
import { TABLES } from './columns.ts';
import { encodeRows, encodeRowsSliced, type EncodedBatch, type EncodedSink } from './encoded.ts';
import {
  compileClickHouseStoreOptions,
  compileDuckDbStoreOptions,
  type ClickHouseStoreOptions,
  type DuckDbStoreOptions,
} from './options.ts';
import { EncodedInserts } from './row-inserts.ts';
import type { RowKind, RowOf, TimeSeriesStore } from './types.ts';

/**
 * Which adapter the worker runs, with its options. They cross to the worker
 * as data, so a ClickHouse store there takes no clock (it uses the system
 * clock, the default).
 */
export type StoreTarget =
  | { adapter: 'duckdb'; options: Partial<DuckDbStoreOptions> }
  | { adapter: 'clickhouse'; options: Partial<Omit<ClickHouseStoreOptions, 'clock'>> };

/**
 * The store methods a worker answers: every one but the synchronous `tables`
 * and the row inserts, which cross as `insertEncoded` (one EncodedBatch).
 * A host worker (see {@link WorkerHost}) answers methods of its own too.
 */
type Method = Exclude<keyof TimeSeriesStore, 'tables' | `insert${string}`> | keyof EncodedSink;

/** Rows past which an insert is encoded in slices (WorkerStore.insertRows). */
const SLICED_FROM = 500;

/** A request to the worker; answered with the same id. */
export interface StoreRequest {
  id: number;
  method: string;
  args: unknown[];
}

/** A message to a host worker's method that is not answered. */
export interface WorkerPost {
  post: string;
  args: unknown[];
}

/** What a worker starts with (its workerData). */
export interface WorkerStart {
  target: StoreTarget;
  /** The host's own start data. */
  data?: unknown;
}

/**
 * A worker entry that runs more than the store on its thread: it serves the
 * store through store-host.ts's `serveStore` and adds its own methods.
 * Messages it sends on its own carry `notice` (see {@link WorkerStore.onNotice}).
 */
export interface WorkerHost {
  entry: URL;
  data?: unknown;
}

/** A message the worker sends on its own (a log line, a metric), never an answer. */
export interface WorkerNotice {
  notice: string;
  args: unknown[];
}

/** An error as it crosses from the worker. */
export interface WorkerError {
  name: string;
  message: string;
  code?: ErrorCode;
  field?: string;
  retryable?: boolean;
}

type Reply =
  { id: number; ok: true; value: unknown } | { id: number; ok: false; error: WorkerError } | WorkerNotice;

function rebuild(e: WorkerError): Error {
  if (e.code === undefined) return new StateError(ErrorCode.StoreFailed, `store worker: ${e.message}`);
  const init = { retryable: e.retryable ?? false, ...(e.field === undefined ? {} : { field: e.field }) };
  if (e.name === 'InputError') return new InputError(e.code, e.message, init);
  if (e.name === 'StateError') return new StateError(e.code, e.message, init);
  return new HeadroomError(e.code, e.message, init);
}

/**
 * The worker's Node options: none of the parent's (some, like --input-type,
 * refuse to run in a worker), only tsx when running from TypeScript sources,
 * whether the parent got it from --import or from register() (bin/headroom.js).
 */
function execArgv(): string[] {
  return import.meta.url.endsWith('.ts') ? ['--import', import.meta.resolve('tsx')] : [];
}

/**
 * The worker's young generation: 24 MB, semi-spaces of 8 MB (V8's default
 * is 16 MB). Its garbage is short-lived rows and records, collected as
 * cheaply in smaller semi-spaces; in a node under one-off users its heap
 * averaged 86 MB instead of 98 and peaked at 119 MB instead of 161 (issue
 * 11's 1 GB bound). The old generation is not capped: a worker past a cap
 * ends (ERR_WORKER_OUT_OF_MEMORY), and collection with it.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 24 };

/** A TimeSeriesStore on a worker thread, with its host's methods and notices. */
export class WorkerStore extends EncodedInserts implements TimeSeriesStore {
  readonly #worker: Worker;
  readonly #listeners = new Set<(n: WorkerNotice) => void>();
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  #next = 0;
  /** Set once the worker is gone: every later call fails with it. */
  #gone: StateError | undefined;
  #closing: Promise<void> | undefined;
  /** Settles once the last insert's batch is posted (or failed to encode): the next posts after it. */
  #posted: Promise<unknown> = Promise.resolve();

  constructor(target: StoreTarget, host?: WorkerHost) {
    super();
    this.#worker = new Worker(host?.entry ?? new URL('./store-worker.ts', import.meta.url), {
      workerData: { target, data: host?.data } satisfies WorkerStart,
      execArgv: execArgv(),
      resourceLimits: WORKER_LIMITS,
    });
    this.#worker.unref(); // held only while a call is pending
    this.#worker.on('message', (r: Reply) => {
      if ('notice' in r) {
        for (const listen of this.#listeners) listen(r);
        return;
      }
      const p = this.#pending.get(r.id);
      if (p === undefined) return;
      this.#settled(r.id);
      if (r.ok) p.resolve(r.value);
      else p.reject(rebuild(r.error));
    });
    const fail = (why: string): void => {
      this.#gone ??= new StateError(ErrorCode.StoreFailed, `the store worker ${why}`);
      for (const [id, p] of this.#pending) {
        this.#settled(id);
        p.reject(this.#gone);
      }
    };
    this.#worker.on('error', (err) => fail(`failed: ${err.message}`));
    this.#worker.on('exit', (code) => fail(`exited (code ${code})`));
  }

  #settled(id: number): void {
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#worker.unref();
  }

  /** Calls a method of the worker's host (or of the store) and awaits its answer. */
  call<T>(method: string, ...args: unknown[]): Promise<T> {
    return this.#call<T>(method, ...args);
  }

  /**
   * Posts to a method of the worker's host, unanswered (nothing is held
   * pending, so this does not keep the process alive); `transfer` moves
   * buffers instead of copying them. Returns false, posting nothing, once
   * the worker is gone.
   */
  post(method: string, args: unknown[], transfer: ArrayBuffer[] = []): boolean {
    if (this.#gone !== undefined) return false;
    this.#worker.postMessage({ post: method, args } satisfies WorkerPost, transfer);
    return true;
  }

  /**
   * The worker thread's V8 heap: used and total (reserved) bytes, and the
   * memory outside it that V8 knows of (transferred batches' buffers). The
   * worker's thread answers between two of its tasks (a long DuckDB call
   * delays it): callers bound the wait. Null once the worker is gone.
   */
  async heap(): Promise<{ usedBytes: number; totalBytes: number; externalBytes: number } | null> {
    if (this.#gone !== undefined) return null;
    try {
      const h = await this.#worker.getHeapStatistics();
      return {
        usedBytes: h.used_heap_size,
        totalBytes: h.total_heap_size,
        externalBytes: (h as { external_memory?: number }).external_memory ?? 0,
      };
    } catch {
      return null; // it ended meanwhile
    }
  }

  /** Receives the messages the worker sends on its own; returns the call that stops it. */
  onNotice(listener: (n: WorkerNotice) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #call<T>(method: Method | string, ...args: unknown[]): Promise<T> {
    if (this.#gone !== undefined) return Promise.reject(this.#gone);
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      if (this.#pending.size === 0) this.#worker.ref();
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#worker.postMessage({ id, method, args } satisfies StoreRequest);
    });
  }

  init = (): Promise<void> => this.#call('init');

  /**
   * Encodes `rows` here and posts them. A batch past {@link SLICED_FROM}
   * rows (a forecast round's) is encoded in ~2 ms slices with the thread
   * yielded between them, so the check path's thread is never held for the
   * whole batch; batches are posted in the order of these calls all the
   * same (a later replacing write must land later).
   */
  override insertRows<K extends RowKind>(kind: K, rows: readonly RowOf[K][]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    const encoded =
      rows.length > SLICED_FROM
        ? encodeRowsSliced(kind, rows)
        : new Promise<EncodedBatch>((resolve) => resolve(encodeRows(kind, rows)));
    const previous = this.#posted;
    // The worker's answer, boxed: `posting` settles once posted, not once answered.
    const posting = encoded.then(async (batch) => {
      await previous;
      return { answered: this.insertEncoded(batch) };
    });
    this.#posted = posting.then(
      () => undefined,
      () => previous,
    );
    return posting.then((p) => p.answered);
  }
  /**
   * Posts an encoded batch to the worker's adapter: rows cross encoded by
   * column (deduplicated, maps as JSON text), cheaper to clone than row
   * objects, and the worker writes them as they come.
   */
  override insertEncoded(batch: EncodedBatch): Promise<void> {
    return this.#call('insertEncoded', batch);
  }
  tokenBuckets: TimeSeriesStore['tokenBuckets'] = (...a) => this.#call('tokenBuckets', ...a);
  /** The worker moves the series' buffers to this thread (store-host.ts): no copy, no row objects. */
  tokenSeries: TimeSeriesStore['tokenSeries'] = (...a) => this.#call('tokenSeries', ...a);
  activeTokens: TimeSeriesStore['activeTokens'] = (...a) => this.#call('activeTokens', ...a);
  events: TimeSeriesStore['events'] = (...a) => this.#call('events', ...a);
  eventLevels: TimeSeriesStore['eventLevels'] = (...a) => this.#call('eventLevels', ...a);
  forecasts: TimeSeriesStore['forecasts'] = (...a) => this.#call('forecasts', ...a);
  records: TimeSeriesStore['records'] = (...a) => this.#call('records', ...a);
  decisions: TimeSeriesStore['decisions'] = (...a) => this.#call('decisions', ...a);
  enforceRetention: TimeSeriesStore['enforceRetention'] = (n) => this.#call('enforceRetention', n);
  dumpAll: TimeSeriesStore['dumpAll'] = () => this.#call('dumpAll');

  /** Closes the adapter in the worker, then ends the worker. Idempotent. */
  close(): Promise<void> {
    return (this.#closing ??= (async () => {
      try {
        if (this.#gone === undefined) await this.#call('close');
      } finally {
        this.#gone ??= new StateError(ErrorCode.Unavailable, 'the store is closed');
        await this.#worker.terminate();
      }
    })());
  }

  tables(): string[] {
    return Object.values(TABLES).map((t) => t.table);
  }
}

/**
 * A store that runs `target`'s adapter on a worker thread. Options are
 * validated here, before the worker starts (InvalidOptions); call `init()`
 * before use, and `close()` to end the worker.
 * @example const store = createWorkerStore({ adapter: 'duckdb', options: { path: 'data/store.duckdb' } });
 */
export function createWorkerStore(target: StoreTarget, host?: WorkerHost): WorkerStore {
  let options: StoreTarget['options'];
  if (target.adapter === 'duckdb') {
    options = { ...compileDuckDbStoreOptions(target.options) };
  } else {
    // Checked here, before the worker starts; the clock stays behind (see StoreTarget).
    const { clock: _clock, ...data } = compileClickHouseStoreOptions(target.options);
    options = data;
  }
  return new WorkerStore({ adapter: target.adapter, options } as StoreTarget, host);
}
