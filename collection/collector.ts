/**
 * The collector: a DecisionObserver that turns decisions into behavioural
 * rows. `decided`/`refunded` (or `enqueue`, for decisions that arrive as
 * data) only queue (one array push per decision or refund); a tick on the
 * Clock then anonymises each decision (PrivacyPipeline), adds calendar,
 * profile, region and event-signal features, holds decisions and 1 s / 1 min
 * buckets until their bucket closed plus a grace period (so refunds can still
 * turn an allowed request into a denied one: see lib/collect.ts), and hands
 * the ready rows, records built only then (a uniform sample of at most
 * `recordsPerTokenSecond` per token and second), to the Batcher. Nothing here
 * throws to its caller: a full queue or spool is counted and logged, never
 * raised. A node runs it on its collection worker thread
 * (services/collection/collection-worker.ts), fed by a CollectorPort on the
 * check path's thread, which draws the records' sample at arrival and sends
 * only the decisions in it one by one, the rest as counts (`collectBatch`).
 * Used in-process (decided/refunded/enqueue: tests, benches, a node with
 * `--store none`), it draws the sample itself (lib/collect.ts).
 */
import { randomBytes } from 'node:crypto';
import {
  CollectionWindow,
  EventSignals,
  HolidayCalendar,
  RefundOutcome,
  calendarFeatures,
} from '../lib/index.ts';
import type { CalendarFeatures, CollectedBatch, Params, RuleDecision, TimerHandle } from '../lib/index.ts';
import type { AnonymisedObservation } from '../lib/privacy/index.ts';
import { AnonymisationMemo } from './collector-memo.ts';
import { compileCollectorOptions } from './collector-options.ts';
import type { CollectorDeps, CollectorOptions } from './collector-options.ts';
import { DecisionQueue, Queued } from './collector-queue.ts';
import { itemAt } from './collector-batch.ts';
import type { DecisionBatch } from './collector-batch.ts';
import { Slot } from './collector-sample.ts';
import { noProfiles } from './profiles.ts';
import type { DecisionObserver, ObservedItem } from './observer.ts';

/** Counters since start. */
export interface CollectorStats {
  decided: number;
  refunds: number;
  lateRefunds: number;
  unmatchedRefunds: number;
  /** Records handed to the batcher. */
  records: number;
  /** Decisions written without a record: beyond `recordsPerTokenSecond` (their buckets count them). */
  recordsSampledOut: number;
  buckets: number;
  /** Decisions dropped because the queue was full. */
  droppedQueueFull: number;
  /** Rows the batcher refused (spool full, or a bad row). */
  refused: number;
  /** Decisions that failed to process (counted, logged by code). */
  errors: number;
  queued: number;
  held: number;
}

const LOG_EVERY_MS = 10_000;
/** Most memoised anonymisations per second; beyond, requests are anonymised one by one. */
const MEMO_MAX = 50_000;

/** A token's anonymised parts, calendar and event levels in one second: what its records are built from. */
interface Memo {
  parts: AnonymisedObservation;
  calendar: CalendarFeatures;
  events: Record<string, number>;
}

export class Collector implements DecisionObserver {
  readonly #d: Required<Omit<CollectorDeps, 'onLoss' | 'random'>> & Pick<CollectorDeps, 'onLoss'>;
  readonly #o: Readonly<CollectorOptions>;
  readonly #window: CollectionWindow;
  readonly #boot = randomBytes(6).toString('hex');
  /** Node id and boot: a restarted node's part of an open bucket is a part of its own. */
  readonly #source: string;
  readonly #queue = new DecisionQueue();
  #timer: TimerHandle | undefined;
  #closed = false;
  #lastLogMs = Number.NEGATIVE_INFINITY;
  readonly #memo: AnonymisationMemo<Memo>;
  readonly #reads: readonly string[];
  #memoSecond = Number.NaN;
  #calendar: CalendarFeatures | undefined;
  /** Rows refused since the last report (#reportRefused), with the first one's kind and reason. */
  #unreported = 0;
  #refusedWhat = '';
  readonly #stats = {
    decided: 0,
    refunds: 0,
    lateRefunds: 0,
    unmatchedRefunds: 0,
    records: 0,
    buckets: 0,
    droppedQueueFull: 0,
    refused: 0,
    errors: 0,
  };

  /**
   * @param deps what the collector calls (typed, used as given)
   * @param options compiled with lib/options.ts
   * @throws InputError (code InvalidOptions) for an unknown option or a bad value, naming each
   */
  constructor(deps: CollectorDeps, options: Partial<CollectorOptions> = {}) {
    this.#o = compileCollectorOptions(options);
    this.#d = {
      pipeline: deps.pipeline,
      batcher: deps.batcher,
      clock: deps.clock,
      logger: deps.logger,
      holidays: deps.holidays ?? new HolidayCalendar([]),
      profiles: deps.profiles ?? noProfiles,
      signals: deps.signals ?? new EventSignals(300_000),
      onLoss: deps.onLoss,
    };
    this.#source = `${this.#o.source}/${this.#boot}`;
    // What anonymisation reads besides the token: policy parameters, ip,
    // region and the profile parameter. Other parameters cannot change it.
    const reads = new Set([...this.#d.pipeline.paramNames, 'ip', 'region', this.#o.profileParam]);
    this.#reads = [...reads];
    this.#memo = new AnonymisationMemo(this.#reads, MEMO_MAX);
    this.#window = new CollectionWindow(this.#o.graceMs, this.#boot, {
      recordsPerTokenSecond: this.#o.recordsPerTokenSecond,
      random: deps.random ?? Math.random,
    });
    this.#arm();
  }

  /**
   * The parameters whose values anonymisation reads: the policies'
   * parameters, ip, region and the profile parameter. Others never change a
   * record, so they need not reach the collector.
   */
  get reads(): readonly string[] {
    return this.#reads;
  }

  /** The event signals this collector reads (the events hub feeds them). */
  get signals(): EventSignals {
    return this.#d.signals;
  }

  // -- check path: queue only -------------------------------------------

  decided(item: ObservedItem, decision: RuleDecision, nowMs: number): void {
    this.#push(item, decision.allow ? Queued.Allowed : Queued.Denied, decision.ruleId, nowMs);
  }

  refunded(item: ObservedItem, nowMs: number): void {
    this.#push(item, Queued.Refund, '', nowMs);
  }

  /**
   * Queues a decision (`Queued.Allowed`/`Denied`, with its rule) or a refund
   * (`Queued.Refund`, rule ''), as `decided` and `refunded` do: for decisions
   * that reach the collector as data (from another thread).
   */
  enqueue(item: ObservedItem, what: Queued, ruleId: string, nowMs: number): void {
    this.#push(item, what, ruleId, nowMs);
  }

  #push(item: ObservedItem, what: Queued, ruleId: string, nowMs: number): void {
    if (this.#closed) return;
    if (this.#queue.length >= this.#o.maxQueue) {
      this.#stats.droppedQueueFull++;
      this.#d.onLoss?.('queue', 1);
      this.#warn(`collection queue full (${this.#o.maxQueue}): decisions dropped`);
      return;
    }
    this.#queue.push(item, what, ruleId, nowMs);
  }

  // -- off the check path -------------------------------------------------

  /**
   * Processes a batch from a CollectorPort (collector-batch.ts) at once, in
   * the order its decisions arrived: the decisions and refunds that crossed
   * one by one, with the counts of those left out of the sample applied
   * before the first refund that came after them; then writes what is due.
   * Not bounded by `maxQueue` (the port bounds what it sends).
   */
  collectBatch(b: DecisionBatch, nowMs = this.#d.clock.now()): void {
    if (this.#closed) return;
    const names = this.#reads;
    const counted = b.counted;
    const shadows = b.shadows;
    let a = 0;
    let sh = 0;
    /** Applies the counted decisions (and their shadows) that came before refund number `seg`. */
    const countUpTo = (seg: number): void => {
      for (; a < counted.n && counted.seg[a]! <= seg; a++) {
        this.#guarded(() => this.#count(counted, a));
      }
      for (; sh < shadows.n && shadows.seg[sh]! <= seg; sh++) {
        const tokenKey = shadows.token[sh]!;
        const [atMs, cost] = [shadows.atMs[sh]!, shadows.cost[sh]!];
        this.#guarded(() => this.#window.addShadow(tokenKey, atMs, cost));
      }
    };
    let refunds = 0;
    for (let i = 0; i < b.n; i++) {
      const what = b.what[i] as Queued;
      if (what === Queued.Refund) countUpTo(refunds++);
      this.#guarded(() => {
        const item = itemAt(b, names, i);
        if (what === Queued.Refund) this.#refund(item, item.atMs!);
        else this.#record(item, what === Queued.Allowed, b.rule[i]!, item.atMs!, b.slot[i]!);
      });
    }
    countUpTo(Number.POSITIVE_INFINITY);
    this.process(nowMs);
  }

  /** Counted decisions `a` of `c`: into the window's buckets, named as their records would be. */
  #count(c: DecisionBatch['counted'], a: number): void {
    const n = c.count[a]!;
    this.#stats.decided += n;
    const tokenKey = c.token[a]!;
    const atMs = c.second[a]!;
    this.#window.addCounts(
      tokenKey,
      atMs,
      c.allow[a] === 1,
      n,
      c.cost[a]!,
      () => this.#features(tokenKey, {}, atMs).parts.token,
    );
  }

  /** Runs one decision's processing; a failure is counted and logged by code, never thrown. */
  #guarded(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#stats.errors++;
      this.#warn(
        `collection failed for a decision: ${(err as { code?: string }).code ?? (err as Error).name}`,
      );
    }
  }

  /** Processes queued decisions and refunds, and writes what is due at `nowMs`. */
  process(nowMs = this.#d.clock.now()): void {
    this.#queue.drain((item, what, ruleId, at) =>
      this.#guarded(() => {
        if (what === Queued.Refund) this.#refund(item, at);
        else this.#record(item, what === Queued.Allowed, ruleId, at, Slot.None);
      }),
    );
    this.#write(this.#window.due(nowMs));
  }

  /** Processes everything, writes open buckets too, and stops the tick. Does not close the batcher. */
  close(): void {
    if (this.#closed) return;
    this.process();
    this.#write(this.#window.all());
    this.#closed = true;
    if (this.#timer !== undefined) this.#d.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  stats(): CollectorStats {
    return {
      ...this.#stats,
      recordsSampledOut: this.#window.sampledOut,
      queued: this.#queue.length,
      held: this.#window.heldRecords,
    };
  }

  #arm(): void {
    this.#timer = this.#d.clock.setTimeout(() => {
      this.#timer = undefined;
      if (this.#closed) return;
      this.process();
      this.#arm();
    }, this.#o.tickMs);
  }

  /** Holds a decision; `slot` is the port's reservoir slot, or Slot.None when the window samples. */
  #record(item: ObservedItem, allow: boolean, ruleId: string, nowMs: number, slot: number): void {
    this.#stats.decided++;
    const atMs = item.atMs ?? nowMs;
    const memo = this.#features(item.token, item.params ?? {}, atMs);
    // Held as the decision and a reference to the memo; the record is built when written.
    const d = { atMs, allow, ruleId, cost: item.cost };
    if (slot === Slot.None) this.#window.add(item.token, d, memo);
    else this.#window.addSampled(item.token, d, memo, slot);
  }

  /** The anonymised parts, calendar and event levels of a token's request at `atMs`, memoised per second. */
  #features(tokenKey: string, params: Params, atMs: number): Memo {
    const second = Math.floor(atMs / 1000) * 1000;
    if (second !== this.#memoSecond) {
      this.#memo.clear();
      this.#memoSecond = second;
      this.#calendar = calendarFeatures(second, this.#d.holidays);
    }
    let memo = this.#memo.get(tokenKey, params);
    if (memo === undefined) {
      memo = this.#anonymise(tokenKey, params, atMs, second);
      this.#memo.set(tokenKey, params, memo);
    }
    return memo;
  }

  /**
   * The anonymised parts and event levels of a token's request. Memoised per
   * second of request time: the same token with the same values of the
   * parameters anonymisation reads, in the same second, anonymises the same
   * way (one HMAC and one k-anonymity count per token, values and second
   * instead of per request), and the features are aligned to the second's
   * bucket anyway.
   */
  #anonymise(tokenKey: string, params: Params, atMs: number, second: number): Memo {
    const user = params[this.#o.profileParam];
    const ip = params['ip'];
    const region = params['region'];
    const anon = this.#d.pipeline.anonymise(
      {
        tokenKey,
        params,
        profile: user === undefined ? undefined : this.#d.profiles.get(String(user)),
        ...(typeof ip === 'string' ? { ip } : {}),
        ...(typeof region === 'string' ? { region } : {}),
      },
      atMs,
    );
    for (const link of anon.links) this.#add('links', link);
    // Signals are read at the start of the record's second: aligned to its 1 s bucket.
    return { parts: anon, calendar: this.#calendar!, events: this.#d.signals.levels(second, anon.token) };
  }

  #refund(item: ObservedItem, nowMs: number): void {
    this.#stats.refunds++;
    const outcome = this.#window.refund(item.token, item.atMs ?? nowMs, item.cost);
    if (outcome === RefundOutcome.Late) this.#stats.lateRefunds++;
    else if (outcome === RefundOutcome.Unmatched) this.#stats.unmatchedRefunds++;
  }

  #write(batch: CollectedBatch): void {
    for (const r of batch.records) if (this.#add('records', r)) this.#stats.records++;
    for (const b of batch.buckets) {
      if (this.#add('buckets', { ...b, source: this.#source })) this.#stats.buckets++;
    }
    this.#reportRefused();
  }

  /**
   * Hands a row to the batcher; a refused one (spool full, or a bad row) is
   * counted here and reported with the others of its batch: a full spool
   * refuses every row, and an error and a loss notice per row held the
   * collection worker's thread for seconds (issue 11).
   */
  #add(kind: 'records' | 'buckets' | 'links', row: object): boolean {
    let code: string | undefined;
    try {
      if ((this.#d.batcher.tryAdd as (k: string, r: object) => boolean)(kind, row)) return true;
    } catch (err) {
      code = (err as { code?: string }).code ?? 'error';
    }
    this.#stats.refused++;
    if (this.#unreported++ === 0)
      this.#refusedWhat = `${kind} rows: ${code ?? this.#d.batcher.refusal ?? 'error'}`;
    return false;
  }

  /** Counts the rows refused since the last call as lost, in one notice and at most one warning. */
  #reportRefused(): void {
    if (this.#unreported === 0) return;
    const n = this.#unreported;
    this.#unreported = 0;
    this.#d.onLoss?.('spool', n);
    this.#warn(
      `collection: the store batcher refused ${this.#refusedWhat} (${n} rows refused in this batch)`,
    );
  }

  /** At most one warning per 10 s: a full spool must be seen, not flood the log. */
  #warn(message: string): void {
    const now = this.#d.clock.now();
    if (now - this.#lastLogMs < LOG_EVERY_MS) return;
    this.#lastLogMs = now;
    this.#d.logger.warn(`${message} (stats: ${JSON.stringify(this.stats())})`);
  }
}
