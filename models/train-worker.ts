/**
 * Entry of the training worker thread: receives one {@link TrainJob} as
 * `workerData`, posts progress messages while it trains and validates, then
 * the result (weights transferred, not copied) or the error.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { trainCandidate } from './training.ts';
import type { TrainJob } from './training.ts';
import type { WorkerMessage } from './train-runner.ts';

const port = parentPort!;
const post = (m: WorkerMessage, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);

try {
  const result = await trainCandidate(workerData as TrainJob, (p) => post({ type: 'progress', progress: p }));
  const transfer = result.lstm ? [result.lstm.weights.buffer as ArrayBuffer] : [];
  post({ type: 'done', result }, transfer);
} catch (err) {
  const e = err as Error;
  post({ type: 'error', message: e.message, stack: e.stack ?? '' });
}
