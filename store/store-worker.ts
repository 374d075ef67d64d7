/**
 * Entry of the store worker thread (see worker-store.ts): owns the real
 * adapter and answers requests through store-host.ts. Loaded by URL, never
 * imported.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { adapterFor, serveStore } from './store-host.ts';
import type { WorkerStart } from './worker-store.ts';

serveStore(parentPort!, adapterFor((workerData as WorkerStart).target));
