/**
 * Entry of the store worker thread (see worker-store.ts): owns the real
 * adapter and answers each request `{id, method, args}` with
 * `{id, ok, value}` or `{id, ok: false, error}`. Loaded by URL, never
 * imported.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { HeadroomError } from '../lib/index.ts';
import { createClickHouseStore } from './clickhouse-store.ts';
import { createDuckDbStore } from './duckdb-store.ts';
import type { EncodedSink } from './encoded.ts';
import type { TimeSeriesStore } from './types.ts';
import type { StoreRequest, StoreTarget, WorkerError } from './worker-store.ts';

const port = parentPort!;
const target = workerData as StoreTarget;
const store: TimeSeriesStore & EncodedSink =
  target.adapter === 'duckdb' ? createDuckDbStore(target.options) : createClickHouseStore(target.options);

function errorOf(err: unknown): WorkerError {
  if (err instanceof HeadroomError) {
    const e: WorkerError = { name: err.name, message: err.message, code: err.code, retryable: err.retryable };
    if (err.field !== undefined) e.field = err.field;
    return e;
  }
  return { name: 'Error', message: err instanceof Error ? err.message : String(err) };
}

port.on('message', (req: StoreRequest) => {
  const call = store[req.method] as (...args: unknown[]) => Promise<unknown>;
  Promise.resolve()
    .then(() => call.apply(store, req.args))
    .then(
      (value) => port.postMessage({ id: req.id, ok: true, value }),
      (err: unknown) => port.postMessage({ id: req.id, ok: false, error: errorOf(err) }),
    )
    .finally(() => {
      if (req.method === 'close') port.close();
    });
});
