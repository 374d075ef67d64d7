/**
 * Runs a training job on a worker thread so that the caller's event loop
 * (token checks, timers) never waits on TensorFlow.js.
 */
import { Worker } from 'node:worker_threads';
import type { TrainJob, TrainProgress, TrainResult } from './training.ts';

/** Messages from the training worker. */
export type WorkerMessage =
  | { type: 'progress'; progress: TrainProgress }
  | { type: 'done'; result: TrainResult }
  | { type: 'error'; message: string; stack: string };

/** Under tsx (sources run as .ts) the worker needs the tsx loader too, by absolute URL. */
function execArgv(): string[] {
  return import.meta.url.endsWith('.ts') ? ['--import', import.meta.resolve('tsx')] : [];
}

/**
 * Trains and validates a candidate on a worker thread; resolves with the
 * scores and the serialised model. `onProgress` is called on this thread.
 * The series are copied to the worker (the caller keeps its arrays).
 * Aborting `signal` terminates the worker and rejects.
 */
export function trainInWorker(
  job: TrainJob,
  onProgress: (p: TrainProgress) => void = () => {},
  signal?: AbortSignal,
): Promise<TrainResult> {
  const file = import.meta.url.endsWith('.ts') ? './train-worker.ts' : './train-worker.js';
  return new Promise((resolve, reject) => {
    let settled = false;
    const worker = new Worker(new URL(file, import.meta.url), { workerData: job, execArgv: execArgv() });
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      fn();
      void worker.terminate();
    };
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'progress') onProgress(m.progress);
      else if (m.type === 'done') finish(() => resolve(m.result));
      else
        finish(() => {
          const e = new Error(`training failed: ${m.message}`);
          e.stack = `${e.message}\n--- in the training worker ---\n${m.stack}`;
          reject(e);
        });
    });
    worker.on('error', (err) => finish(() => reject(err)));
    signal?.addEventListener('abort', () => finish(() => reject(new Error('training aborted'))), {
      once: true,
    });
    worker.on('exit', (code) => finish(() => reject(new Error(`training worker exited with code ${code}`))));
  });
}
