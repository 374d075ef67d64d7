import { isThenable } from '../lib/index.ts';

interface Job {
  task: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

// Finished entries at the head of the queue are dropped in one splice once
// they outnumber the waiting ones, so a long-busy mailbox neither leaks nor pays O(n)
// per dequeue (Array#shift on a large array is O(n) in V8).
const COMPACT_AT = 1024;

/**
 * A serial queue: tasks run one at a time, in arrival order, each starting
 * only after the previous one's promise settled. A task that throws (or
 * rejects) rejects its own promise only; the queue carries on with the next.
 *
 * A task never starts inside `enqueue`'s caller: the first one starts on a
 * later microtask, so callers can finish their own bookkeeping first. Tasks
 * that return a plain value run back to back without an event-loop hop each.
 * A task must not await a task it queued on its own mailbox (it would wait
 * for itself).
 *
 * @example
 * const box = new Mailbox();
 * const a = box.enqueue(async () => { await io(); return 1; });
 * const b = box.enqueue(() => 2); // starts after `a` settled
 */
export class Mailbox {
  /** Mailboxes that got a task while idle, started together on one microtask. */
  static #ready: Mailbox[] = [];
  static readonly #startReady = (): void => {
    const ready = Mailbox.#ready;
    Mailbox.#ready = [];
    for (const box of ready) box.#drain();
  };

  #jobs: (Job | undefined)[] = [];
  #head = 0;
  #draining = false;
  #idleWaiters: (() => void)[] = [];

  /** Queues `task`; the promise settles with its result once it has run. */
  enqueue<R>(task: () => R | Promise<R>): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#jobs.push({ task, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#draining) {
        this.#draining = true;
        // Start on a later microtask: a task never runs inside enqueue's caller. The
        // mailboxes a batch wakes share that microtask (no async frame per mailbox).
        if (Mailbox.#ready.push(this) === 1) queueMicrotask(Mailbox.#startReady);
      }
    });
  }

  /** Tasks queued plus the one running. */
  get length(): number {
    return this.#jobs.length - this.#head;
  }

  /** Resolves once the queue is empty (at once when it already is). */
  idle(): Promise<void> {
    if (this.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Runs the queued tasks in order. Synchronous tasks run back to back with
   * no event-loop hop each; a thenable one stops the loop, which goes on
   * from its settlement.
   */
  #drain(): void {
    while (this.#head < this.#jobs.length) {
      const job = this.#jobs[this.#head]!;
      let result: unknown;
      try {
        result = job.task();
      } catch (err) {
        job.reject(err);
        this.#finished();
        continue;
      }
      if (isThenable(result)) {
        Promise.resolve(result).then(
          (value) => {
            job.resolve(value);
            this.#finished();
            this.#drain();
          },
          (err: unknown) => {
            job.reject(err);
            this.#finished();
            this.#drain();
          },
        );
        return;
      }
      job.resolve(result);
      this.#finished();
    }
    this.#jobs = [];
    this.#head = 0;
    this.#draining = false;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Drops the head job once settled. It counts in `length` until here, so code at the end of a task sees itself as still queued (length >= 1). */
  #finished(): void {
    this.#jobs[this.#head] = undefined;
    this.#head++;
    if (this.#head >= COMPACT_AT && this.#head * 2 >= this.#jobs.length) {
      this.#jobs.splice(0, this.#head);
      this.#head = 0;
    }
  }
}
