/**
 * The request loop of a store worker thread (see worker-store.ts). Answers
 * each request `{id, method, args}` with `{id, ok, value}` or
 * `{id, ok: false, error}` from the adapter's method of that name or, for a
 * host that runs more than the store on that thread (the node's collection
 * worker), from one of its own methods; runs posted messages
 * `{post, args}` (no answer) through the host's methods. `close` runs the
 * host's `beforeClose` (which may still write through the store) and then
 * closes the adapter.
 */
import type { MessagePort } from 'node:worker_threads';
import { HeadroomError } from '../lib/index.ts';
import { createClickHouseStore } from './clickhouse-store.ts';
import { createDuckDbStore } from './duckdb-store.ts';
import type { EncodedSink } from './encoded.ts';
import type { TimeSeriesStore } from './types.ts';
import type { StoreRequest, StoreTarget, WorkerError, WorkerPost } from './worker-store.ts';

/** What a host adds to the store's methods on its thread. */
export interface StoreHostExtras {
  /** Methods by name, for requests and posts the store does not answer. */
  methods?: Record<string, (...args: unknown[]) => unknown>;
  /** Runs before the adapter closes. */
  beforeClose?: () => Promise<void>;
  /** Called with a posted message's error (a post has no one to answer). */
  onPostError?: (method: string, err: unknown) => void;
}

/** The adapter a worker runs for `target`. */
export function adapterFor(target: StoreTarget): TimeSeriesStore & EncodedSink {
  return target.adapter === 'duckdb'
    ? createDuckDbStore(target.options)
    : createClickHouseStore(target.options);
}

/** An error as it crosses to the parent: name, message and, for ours, code, field and retryable. */
function errorOf(err: unknown): WorkerError {
  if (err instanceof HeadroomError) {
    const e: WorkerError = { name: err.name, message: err.message, code: err.code, retryable: err.retryable };
    if (err.field !== undefined) e.field = err.field;
    return e;
  }
  return { name: 'Error', message: err instanceof Error ? err.message : String(err) };
}

/**
 * The buffers an answer moves instead of copying: those of an array of
 * Float64Arrays (`tokenSeries`), made for the answer and not used in the
 * worker after it.
 */
function transferOf(value: unknown): ArrayBuffer[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => v instanceof Float64Array))
    return [];
  const buffers = new Set<ArrayBuffer>();
  for (const v of value as Float64Array[]) if (v.buffer instanceof ArrayBuffer) buffers.add(v.buffer);
  return [...buffers];
}

export function serveStore(
  port: MessagePort,
  store: TimeSeriesStore & EncodedSink,
  extras: StoreHostExtras = {},
): void {
  const methods = extras.methods ?? {};
  const find = (name: string): ((...args: unknown[]) => unknown) | undefined => {
    const own = methods[name];
    if (own !== undefined) return own;
    const m = (store as unknown as Record<string, unknown>)[name];
    return typeof m === 'function' ? (m as (...args: unknown[]) => unknown).bind(store) : undefined;
  };
  port.on('message', (msg: StoreRequest | WorkerPost) => {
    if ('post' in msg) {
      try {
        const fn = methods[msg.post];
        if (fn === undefined) throw new Error(`no method ${msg.post}`);
        fn(...msg.args);
      } catch (err) {
        extras.onPostError?.(msg.post, err);
      }
      return;
    }
    Promise.resolve()
      .then(async () => {
        if (msg.method === 'close') {
          await extras.beforeClose?.();
          return store.close();
        }
        const fn = find(msg.method);
        if (fn === undefined) throw new Error(`the store worker has no method ${msg.method}`);
        return fn(...msg.args);
      })
      .then(
        (value) => port.postMessage({ id: msg.id, ok: true, value }, transferOf(value)),
        (err: unknown) => port.postMessage({ id: msg.id, ok: false, error: errorOf(err) }),
      )
      .finally(() => {
        if (msg.method === 'close') port.close();
      });
  });
}
