/**
 * A check of the client waiting for its answer (headroom-client.ts queues
 * them per owner): a single check's promise callbacks, or a slot of a
 * checkBatch whose answer fills its place (one promise for the batch, not
 * one per check: a batch of 100 spent a quarter of the client's CPU in
 * garbage collection).
 */
import type { CheckReply, CheckRequest } from '../lib/index.ts';

/** A check waiting for its answer. */
export interface Pending {
  req: CheckRequest;
  /** When it was asked (ms, performance.now()): the overall timeout counts from here. */
  atMs: number;
  resolve: (reply: CheckReply) => void;
  reject: (err: Error) => void;
}

/** The replies of one checkBatch, filled in as they come; settles once. */
export class BatchReplies {
  readonly out: CheckReply[];
  #waiting: number;
  #settled = false;
  readonly #resolve: (replies: CheckReply[]) => void;
  readonly #reject: (err: Error) => void;

  constructor(n: number, resolve: (replies: CheckReply[]) => void, reject: (err: Error) => void) {
    this.out = new Array<CheckReply>(n);
    this.#waiting = n;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  fill(i: number, reply: CheckReply): void {
    this.out[i] = reply;
    if (--this.#waiting === 0 && !this.#settled) {
      this.#settled = true;
      this.#resolve(this.out);
    }
  }

  fail(err: Error): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#reject(err);
  }
}

/** One check of a checkBatch: a {@link Pending} whose answer fills its place in the batch. */
export class BatchSlot implements Pending {
  readonly req: CheckRequest;
  readonly atMs: number;
  readonly #batch: BatchReplies;
  readonly #index: number;

  constructor(req: CheckRequest, atMs: number, batch: BatchReplies, index: number) {
    this.req = req;
    this.atMs = atMs;
    this.#batch = batch;
    this.#index = index;
  }

  resolve(reply: CheckReply): void {
    this.#batch.fill(this.#index, reply);
  }

  reject(err: Error): void {
    this.#batch.fail(err);
  }
}
