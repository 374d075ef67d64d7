/**
 * The node's DecisionObserver when its collector runs on the collection
 * worker (collection-worker.ts): on the check path it draws the records'
 * sample at arrival (collection/collector-sample.ts: per token and second
 * of request time, a reservoir of `recordsPerTokenSecond`) and appends a
 * decision that enters it to a DecisionBatch (typed arrays and three array
 * pushes, no object); a decision left out is only counted in the batch, per
 * token, second and allowed/denied. Every tick it moves the batch to the
 * worker, which anonymises, holds and writes it. Event signals reach both this thread (for the API's
 * levels) and the worker (for the records). Nothing here throws into the
 * check path: a full batch is counted and reported, never raised.
 */
import { EventSignals, compileOptionsObject, optPositiveInt, optPositiveMs } from '../../lib/index.ts';
import type { Clock, OptionSchema, RuleDecision, SignalEvent, TimerHandle } from '../../lib/index.ts';
import { createWorkerStore } from '../../store/index.ts';
import type { StoreTarget, WorkerNotice, WorkerStore } from '../../store/index.ts';
import { DecisionBatchBuilder, defaultCollectorOptions, transferOf, Queued } from '../../collection/index.ts';
import type { CollectionWorkerData, CollectorConfig, CollectorWorkerStats } from './collection-worker.ts';
import type { DecisionObserver, ObservedItem } from '../../collection/index.ts';

export interface CollectorPortDeps {
  worker: WorkerStore;
  /** This collector's name on the worker (the node id). */
  id: string;
  clock: Clock;
  /** Decisions dropped here (`queue`) and rows the worker's batcher refused (`spool`). */
  onLoss?: (kind: 'queue' | 'spool', rows: number) => void;
  /** Warnings from here and from the collector on the worker. */
  logger: { warn(...args: unknown[]): void };
  /** Uniform numbers in [0, 1) that draw the records' sample (seeded in tests). @default Math.random */
  random?: () => number;
}

/** Options of a {@link CollectorPort}. */
export interface CollectorPortOptions {
  /** How often the batch moves to the worker. @default 20 */
  tickMs: number;
  /**
   * Most decisions waiting here or on their way to the worker (kept ones
   * held here until their second ends, and those that cross as counts,
   * included); beyond, they are counted as dropped. Also the most
   * token-seconds the records' sample tracks here at once. @default 200000
   */
  maxQueue: number;
  /**
   * How long {@link CollectorPort.stats} waits for the worker before it
   * answers with the counters the worker last sent (status must answer within
   * 1 s while the worker is busy writing a minute's buckets). @default 250
   */
  statsWaitMs: number;
}

/** The defaults of {@link CollectorPortOptions}, as a fresh object. */
export function defaultCollectorPortOptions(): CollectorPortOptions {
  return { tickMs: 20, maxQueue: 200_000, statsWaitMs: 250 };
}

const SCHEMA: OptionSchema<CollectorPortOptions> = {
  tickMs: optPositiveMs,
  maxQueue: optPositiveInt,
  statsWaitMs: optPositiveMs,
};

/**
 * Compiles port options over the defaults: unknown keys and bad values are
 * one InputError (code InvalidOptions) naming each; the result is frozen.
 */
export function compileCollectorPortOptions(
  input: Partial<CollectorPortOptions> = {},
): Readonly<CollectorPortOptions> {
  return compileOptionsObject('collectorPort', SCHEMA, defaultCollectorPortOptions(), input);
}

/**
 * Starts a store worker that runs `target`'s adapter and, on the same
 * thread, the collectors that CollectorPorts open (collection-worker.ts).
 */
export function openCollectionWorker(target: StoreTarget, data: CollectionWorkerData): WorkerStore {
  return createWorkerStore(target, { entry: new URL('./collection-worker.ts', import.meta.url), data });
}

/** Signals whose changes (new events, pruning) also reach the worker's collector. */
class SharedSignals extends EventSignals {
  readonly #post: (method: 'signal' | 'signalPrune', arg: unknown) => void;
  constructor(halfLifeMs: number, post: (method: 'signal' | 'signalPrune', arg: unknown) => void) {
    super(halfLifeMs);
    this.#post = post;
  }
  override add(e: SignalEvent): void {
    super.add(e);
    this.#post('signal', e);
  }
  override prune(nowMs: number): void {
    super.prune(nowMs);
    this.#post('signalPrune', nowMs);
  }
}

/**
 * Least refund grace of the worker's collector for the counts of a
 * token-second's decisions left out of the sample to wait here until the
 * second ends (they then cross within a tick of its end); with less, they
 * cross with each tick's batch.
 */
const DEFER_MIN_GRACE_MS = 250;

export class CollectorPort implements DecisionObserver {
  readonly #d: CollectorPortDeps;
  readonly #o: Readonly<CollectorPortOptions>;
  readonly #batch: DecisionBatchBuilder;
  readonly #signals: SharedSignals;
  #timer: TimerHandle | undefined;
  /** Stops listening to the worker's notices. */
  readonly #unlisten: () => void;
  #closing: Promise<CollectorWorkerStats | undefined> | undefined;
  #dropped = 0;
  /** Decisions moved to the worker and not yet processed there. */
  #inFlight = 0;
  #lastLogMs = Number.NEGATIVE_INFINITY;
  /** The counters the worker last sent with a `done` notice; undefined before the first. */
  #latest: CollectorWorkerStats | undefined;

  /**
   * Opens the collector on the worker; `config` says how it anonymises and
   * what it adds.
   * @throws InputError (code InvalidOptions) for an unknown option or a bad value, naming each
   */
  static async open(
    deps: CollectorPortDeps,
    config: CollectorConfig,
    options: Partial<CollectorPortOptions> = {},
  ): Promise<CollectorPort> {
    const o = compileCollectorPortOptions(options);
    const reads = await deps.worker.call<string[]>('collectorOpen', deps.id, config);
    return new CollectorPort(deps, o, reads, config);
  }

  private constructor(
    deps: CollectorPortDeps,
    options: Readonly<CollectorPortOptions>,
    reads: readonly string[],
    config: CollectorConfig,
  ) {
    this.#d = deps;
    this.#o = options;
    // The worker's collector caps records with the same K (its option, from the same config).
    this.#batch = new DecisionBatchBuilder(reads, 256, {
      recordsPerTokenSecond: config.recordsPerTokenSecond ?? defaultCollectorOptions().recordsPerTokenSecond,
      random: deps.random ?? Math.random,
      // A token-second's counts cross when it ends: the worker must still hold the second then.
      deferCounts: config.graceMs >= DEFER_MIN_GRACE_MS,
    });
    const halfLifeMs = config.eventHalfLifeMs;
    this.#signals = new SharedSignals(halfLifeMs, (method, arg) =>
      this.#d.worker.post(method, [this.#d.id, arg]),
    );
    this.#unlisten = deps.worker.onNotice((n) => {
      if (n.args[0] === deps.id) this.#notice(n);
    });
    this.#arm();
  }

  /** The worker's notices for this collector: processed batches, lost rows, warnings. */
  #notice(n: WorkerNotice): void {
    if (n.notice === 'done') {
      this.#acknowledge(n.args[1] as number);
      if (n.args[2] !== undefined) this.#latest = n.args[2] as CollectorWorkerStats;
    } else if (n.notice === 'loss') this.#d.onLoss?.(n.args[1] as 'queue' | 'spool', n.args[2] as number);
    else if (n.notice === 'warn') this.#d.logger.warn(String(n.args[1]));
  }

  /** The event signals (the events hub feeds them; the worker's collector gets each too). */
  get signals(): EventSignals {
    return this.#signals;
  }

  // -- check path: append only -------------------------------------------

  decided(item: ObservedItem, decision: RuleDecision, nowMs: number): void {
    this.#add(item, decision.allow ? Queued.Allowed : Queued.Denied, decision.ruleId, nowMs);
  }

  refunded(item: ObservedItem, nowMs: number): void {
    this.#add(item, Queued.Refund, '', nowMs);
  }

  counted(item: ObservedItem, allow: boolean, count: number, cost: number, nowMs: number): void {
    if (this.#closing !== undefined) return;
    const max = this.#o.maxQueue;
    // Counts hold no item here; they are bounded with the rest all the same (they cross in the batch).
    if (this.#waiting >= max || !this.#batch.addCounted(item, allow, count, cost, nowMs, max)) {
      this.#lost(count, `collection queue full (${max})`);
    }
  }

  #add(item: ObservedItem, what: Queued, ruleId: string, nowMs: number): void {
    if (this.#closing !== undefined) return;
    const max = this.#o.maxQueue;
    if (this.#waiting >= max || !this.#batch.add(item, what, ruleId, nowMs, max)) {
      this.#lost(1, `collection queue full (${max})`);
    }
  }

  /** Decisions waiting here or on their way to the worker (held ones too: the items this thread keeps referenced stay bounded). */
  get #waiting(): number {
    return this.#batch.decisions + this.#batch.held + this.#inFlight;
  }

  /** Counts dropped decisions, as a metric too; warns at most once per 10 s. */
  #lost(n: number, why: string): void {
    this.#dropped += n;
    this.#d.onLoss?.('queue', n);
    const now = this.#d.clock.now();
    if (now - this.#lastLogMs >= 10_000) {
      this.#lastLogMs = now;
      this.#d.logger.warn(`${why}: decisions dropped (${this.#dropped} so far)`);
    }
  }

  // -- off the check path -------------------------------------------------

  /** Moves what is waiting to the worker. */
  flush(): void {
    this.#batch.release(this.#d.clock.now());
    if (this.#batch.decisions === 0) return;
    const b = this.#batch.take();
    if (this.#d.worker.post('collect', [this.#d.id, b], transferOf(b))) {
      this.#inFlight += b.decisions;
      return;
    }
    // The worker is gone (it failed, or the store closed): counted and reported, not silent.
    this.#lost(b.decisions, 'the collection worker is gone');
  }

  /**
   * The worker processed `n` decisions (its `done` notice, which the port
   * receives itself). What is moved and
   * not yet processed counts against `maxQueue`: a worker that falls behind
   * (it yields the CPU to checks) cannot make this thread's memory grow
   * without bound; decisions past the bound are dropped and counted.
   */
  #acknowledge(n: number): void {
    this.#inFlight = Math.max(0, this.#inFlight - n);
  }

  /**
   * The worker's counters, with the decisions dropped here. A worker busy
   * for longer than `statsWaitMs` (a minute's buckets being written) is not
   * waited for: the counters it last sent with a `done` notice (at most
   * 200 ms older than its last batch) answer instead, so status stays fast.
   */
  async stats(): Promise<CollectorWorkerStats> {
    this.flush();
    const asked = this.#d.worker.call<CollectorWorkerStats>('collectorStats', this.#d.id);
    const latest = this.#latest;
    let s: CollectorWorkerStats | undefined;
    if (latest === undefined) s = await asked;
    else {
      s = await this.#within(asked, this.#o.statsWaitMs);
      s ??= { collector: { ...latest.collector }, batcher: { ...latest.batcher } };
    }
    s.collector.droppedQueueFull += this.#dropped;
    s.collector.queued += this.#waiting;
    return s;
  }

  /** `p`'s value if it settles within `ms`, else undefined (a later settling changes nothing). */
  #within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
    const { clock } = this.#d;
    return new Promise<T | undefined>((resolve, reject) => {
      const timer = clock.setTimeout(() => resolve(undefined), ms);
      p.then(
        (v) => {
          clock.clearTimeout(timer);
          resolve(v);
        },
        (err: unknown) => {
          clock.clearTimeout(timer);
          reject(err as Error);
        },
      );
    });
  }

  /**
   * Moves the rest to the worker, which writes what it holds; answers the
   * final counters (undefined when the collector was gone). Idempotent.
   */
  close(): Promise<CollectorWorkerStats | undefined> {
    return (this.#closing ??= (async () => {
      if (this.#timer !== undefined) this.#d.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#batch.release(Number.POSITIVE_INFINITY); // every deferred count goes with the last batch
      this.flush();
      try {
        const s = await this.#d.worker.call<CollectorWorkerStats | undefined>('collectorClose', this.#d.id);
        if (s !== undefined) s.collector.droppedQueueFull += this.#dropped;
        return s;
      } finally {
        this.#unlisten();
      }
    })());
  }

  #arm(): void {
    this.#timer = this.#d.clock.setTimeout(() => {
      this.#timer = undefined;
      if (this.#closing !== undefined) return;
      this.flush();
      this.#arm();
    }, this.#o.tickMs);
  }
}
