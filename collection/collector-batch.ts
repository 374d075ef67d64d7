/**
 * Decisions as they cross from a node's main thread to its collection
 * worker: one message per collector tick, numbers in typed arrays (moved,
 * not copied) and, per decision, the token and the values of the parameters
 * anonymisation reads (see Collector.reads); nothing else of the request
 * crosses. Pure: encoded on the main thread, decoded on the worker
 * (Collector.collectBatch).
 *
 * With a cap on records (`recordsPerTokenSecond` K > 0) the builder samples
 * at arrival (collector-sample.ts): a decision that enters its
 * token-second's reservoir crosses as above, with the reservoir slot it
 * takes; the others cross only as counts per token, second and
 * allowed/denied (an aggregate: with `deferCounts`, one per token-second,
 * in the first batch after the second ended, or before a refund of that
 * token-second; else one per batch), and, when the decision is allowed and
 * refundable, as its time and cost (a shadow, so that a refund can still
 * find it). With K = 0 every decision crosses.
 */
import type { ParamValue, TokenKey } from '../lib/index.ts';
import { Queued } from './collector-queue.ts';
import { PortSampler, Slot } from './collector-sample.ts';
import type { PortSampling, TokenSecond } from './collector-sample.ts';
import type { ObservedItem } from './observer.ts';

/**
 * Decisions left out of their token-second's sample, as counts. Entry `i`
 * counts decisions of `token[i]` in the second starting `second[i]` that
 * arrived after `seg[i]` refunds of the batch and before the next (so the
 * worker applies it before that refund, as it arrived).
 */
export interface CountedDecisions {
  n: number;
  token: TokenKey[];
  second: number[];
  allow: number[];
  count: number[];
  cost: number[];
  seg: number[];
}

/**
 * Allowed, refundable decisions left out of the sample: token, time and
 * cost, for refunds; `seg` as in CountedDecisions.
 */
export interface ShadowDecisions {
  n: number;
  token: TokenKey[];
  atMs: number[];
  cost: number[];
  seg: number[];
}

export interface DecisionBatch {
  /** Decisions and refunds that cross one by one. */
  n: number;
  /** Queued per entry: refund, allowed or denied. */
  what: Uint8Array;
  /** Request time (the item's, else the time it was decided), ms. */
  atMs: Float64Array;
  cost: Float64Array;
  /** Per entry, the reservoir slot it takes (>= 0), or Slot.None / Slot.Late (see collector-sample.ts). */
  slot: Int32Array;
  token: TokenKey[];
  /** Deciding rule per entry; '' for a refund. */
  rule: string[];
  /** The values of `names` for each entry, entry after entry (n * names.length). */
  values: (ParamValue | undefined)[];
  /** Decisions and refunds this batch stands for, counted ones included (the port's queue bound). */
  decisions: number;
  counted: CountedDecisions;
  shadows: ShadowDecisions;
}

const MINUTE = 60_000;

/** Builds batches of decisions; `names` are the parameters that cross. */
export class DecisionBatchBuilder {
  readonly #names: readonly string[];
  readonly #sampler: PortSampler | undefined;
  readonly #defer: boolean;
  #held = 0;
  #b: DecisionBatch;
  #cap: number;
  /** Refunds in this batch so far: counted entries carry it (their `seg`). */
  #refunds = 0;
  /**
   * Bumped by each refund and each take: a token-second's cached aggregate
   * index is valid only within the epoch it was made in.
   */
  #epoch = 0;

  /**
   * @param names the parameters that cross with each decision
   * @param capacity first size of the typed arrays (they grow)
   * @param sampling the cap on records (K) and the randomness: with K > 0,
   *   only the decisions that enter their token-second's sample cross one by one
   */
  constructor(
    names: readonly string[],
    capacity = 256,
    sampling?: PortSampling & {
      /**
       * Hold the counts of a token-second's decisions left out until its
       * second ends (one aggregate per token-second instead of one per
       * batch): only where the worker waits long enough before it writes the
       * second (its refund grace well above a tick). @default false
       */
      deferCounts?: boolean;
    },
  ) {
    this.#names = names;
    this.#cap = capacity;
    this.#b = this.#fresh();
    if (sampling !== undefined && sampling.recordsPerTokenSecond > 0)
      this.#sampler = new PortSampler(sampling);
    this.#defer = sampling?.deferCounts === true;
  }

  /** Entries that cross one by one in the batch so far. */
  get length(): number {
    return this.#b.n;
  }

  /** Decisions and refunds the batch so far stands for. */
  get decisions(): number {
    return this.#b.decisions;
  }

  /** Kept decisions held here until their second ends (deferCounts). */
  get held(): number {
    return this.#held;
  }

  /** Open token-seconds of the sampler (0 without one). */
  get openTokenSeconds(): number {
    return this.#sampler?.size ?? 0;
  }

  /**
   * Adds a decision or a refund. False (nothing added) only when it would
   * open a token-second beyond `maxTokenSeconds` (the caller counts it as
   * dropped).
   */
  add(item: ObservedItem, what: Queued, ruleId: string, nowMs: number, maxTokenSeconds = Infinity): boolean {
    const atMs = item.atMs ?? nowMs;
    const sampler = this.#sampler;
    if (what === Queued.Refund) {
      // Whatever of the token the refund may correct (its second's and its minute's counts, a
      // late refund the minute's) crosses first, in order: deferred counts and held decisions.
      const minute = Math.floor(atMs / MINUTE) * MINUTE;
      sampler?.forToken(item.token, minute, minute + MINUTE, (s) => this.#emit(item.token, s, true));
      this.#refunds++;
      this.#epoch++;
    } else if (sampler !== undefined) {
      const s = sampler.arrive(item.token, atMs, maxTokenSeconds);
      if (s === undefined) return false;
      const slot = sampler.slot;
      if (slot === Slot.Out) {
        this.#count(item, s, what === Queued.Allowed, atMs);
        return true;
      }
      if (slot >= 0 && this.#defer && s.deferring) {
        // The decision it replaces, if held here, never crosses: it is counted instead.
        const evicted = s.held?.[slot];
        if (evicted !== undefined) {
          s.held![slot] = undefined;
          this.#held--;
          this.#count(evicted.item, s, evicted.what === Queued.Allowed, evicted.atMs);
        }
        if (item.refundable !== true) {
          (s.held ??= [])[slot] = { item, what, ruleId, atMs };
          this.#held++;
          return true;
        }
      }
      this.#one(item, what, ruleId, atMs, slot);
      return true;
    }
    this.#one(item, what, ruleId, atMs, Slot.None);
    return true;
  }

  /**
   * Adds `count` decisions of `item`'s token at its time (`nowMs` without
   * one), all allowed or all denied, `cost` in all, as counts only: never a
   * record, never refundable (the bulk of a client's reported checks,
   * collection/observer.ts `counted`). O(1) whatever `count`. False
   * (nothing added) only when it would open a token-second beyond
   * `maxTokenSeconds`.
   */
  addCounted(
    item: ObservedItem,
    allow: boolean,
    count: number,
    cost: number,
    nowMs: number,
    maxTokenSeconds = Infinity,
  ): boolean {
    if (!(count > 0)) return true;
    const atMs = item.atMs ?? nowMs;
    const second = Math.floor(atMs / 1000) * 1000;
    const sampler = this.#sampler;
    const s = sampler?.arriveCounted(item.token, atMs, count, maxTokenSeconds);
    if (sampler !== undefined && s === undefined) return false;
    if (s === undefined || sampler!.slot === Slot.Late) {
      // No sample here, or its second was released: an aggregate of this batch (the worker counts
      // a second it already wrote in its oldest open one, as a late decision).
      this.#aggregate(item.token, second, allow ? 1 : 0, count, cost);
      return true;
    }
    this.#countN(item.token, s, allow, count, cost);
    return true;
  }

  /**
   * Adds the deferred counts of the seconds that ended by `nowMs` to the
   * batch, and frees the sampler's token-seconds that ended a second or
   * more before (Infinity: all, on close).
   */
  release(nowMs: number): void {
    this.#sampler?.release(nowMs, (token, s) => this.#emit(token, s));
  }

  /**
   * The deferred counts of `s` as aggregates of this batch, and the kept
   * decisions it held (its second ended, or `all`: before a refund).
   */
  #emit(token: TokenKey, s: TokenSecond, all = false): void {
    const held = s.held;
    if (held !== null && (all || !s.deferring)) {
      s.held = null;
      for (let slot = 0; slot < held.length; slot++) {
        const h = held[slot];
        if (h === undefined) continue;
        this.#held--;
        this.#one(h.item, h.what as Queued, h.ruleId, h.atMs, slot);
      }
    }
    if (s.allowN > 0) this.#aggregate(token, s.second, 1, s.allowN, s.allowCost);
    if (s.denyN > 0) this.#aggregate(token, s.second, 0, s.denyN, s.denyCost);
    s.allowN = s.allowCost = s.denyN = s.denyCost = 0;
    const shadows = s.shadows;
    s.shadows = null;
    if (shadows !== null)
      for (let i = 0; i < shadows.length; i += 2) this.#shadow(token, shadows[i]!, shadows[i + 1]!);
  }

  /** A new aggregate of `n` decisions (`cost` in all) in this batch; its index. */
  #aggregate(token: TokenKey, second: number, allow: number, n: number, cost: number): number {
    const b = this.#b;
    const c = b.counted;
    b.decisions += n;
    c.token.push(token);
    c.second.push(second);
    c.allow.push(allow);
    c.count.push(n);
    c.cost.push(cost);
    c.seg.push(this.#refunds);
    return c.n++;
  }

  #one(item: ObservedItem, what: Queued, ruleId: string, atMs: number, slot: number): void {
    if (this.#b.n === this.#cap) this.#grow();
    const b = this.#b;
    const i = b.n++;
    b.decisions++;
    b.what[i] = what;
    b.atMs[i] = atMs;
    b.cost[i] = item.cost;
    b.slot[i] = slot;
    b.token.push(item.token);
    b.rule.push(ruleId);
    const params = item.params;
    for (const name of this.#names) b.values.push(params === undefined ? undefined : params[name]);
  }

  /**
   * Counts a decision left out of the sample: in its token-second's state
   * while that defers, else in its aggregate of this epoch.
   */
  #count(item: ObservedItem, s: TokenSecond, allow: boolean, atMs: number): void {
    const cost = item.cost;
    this.#countN(item.token, s, allow, 1, cost);
    if (!(allow && item.refundable === true)) return;
    // Its shadow crosses after its count (the worker holds it under the token's counts).
    if (this.#defer && s.deferring) (s.shadows ??= []).push(atMs, cost);
    else this.#shadow(item.token, atMs, cost);
  }

  /** `n` decisions of `s` (`cost` in all) left out of the sample, counted as #count counts one. */
  #countN(token: TokenKey, s: TokenSecond, allow: boolean, n: number, cost: number): void {
    if (this.#defer && s.deferring) {
      if (allow) {
        s.allowN += n;
        s.allowCost += cost;
      } else {
        s.denyN += n;
        s.denyCost += cost;
      }
      return;
    }
    if (s.epoch !== this.#epoch) {
      s.epoch = this.#epoch;
      s.allowAgg = -1;
      s.denyAgg = -1;
    }
    let a = allow ? s.allowAgg : s.denyAgg;
    if (a < 0) {
      a = this.#aggregate(token, s.second, allow ? 1 : 0, 0, 0);
      if (allow) s.allowAgg = a;
      else s.denyAgg = a;
    }
    this.#b.decisions += n;
    this.#b.counted.count[a]! += n;
    this.#b.counted.cost[a]! += cost;
  }

  #shadow(token: TokenKey, atMs: number, cost: number): void {
    const sh = this.#b.shadows;
    sh.n++;
    sh.token.push(token);
    sh.atMs.push(atMs);
    sh.cost.push(cost);
    sh.seg.push(this.#refunds);
  }

  /**
   * The batch so far (typed arrays cut to its length), and a fresh one begun.
   * What crosses are the cut copies, so the builder's typed arrays are written
   * over by the next batch instead of made anew: a tick after a second ended
   * emits thousands of held decisions, the arrays grow to that once, and
   * zeroed buffers of that size every tick (50 a second) were the port's
   * largest cost (issue 15).
   */
  take(): DecisionBatch {
    const b = this.#b;
    const n = b.n;
    const out: DecisionBatch = {
      ...b,
      what: b.what.slice(0, n),
      atMs: b.atMs.slice(0, n),
      cost: b.cost.slice(0, n),
      slot: b.slot.slice(0, n),
    };
    this.#b = this.#fresh(b.what, b.atMs, b.cost, b.slot);
    this.#refunds = 0;
    this.#epoch++;
    return out;
  }

  /** An empty batch over the given typed arrays (fresh ones of the current capacity by default). */
  #fresh(
    what: Uint8Array = new Uint8Array(this.#cap),
    atMs: Float64Array = new Float64Array(this.#cap),
    cost: Float64Array = new Float64Array(this.#cap),
    slot: Int32Array = new Int32Array(this.#cap),
  ): DecisionBatch {
    return {
      n: 0,
      what,
      atMs,
      cost,
      slot,
      token: [],
      rule: [],
      values: [],
      decisions: 0,
      counted: { n: 0, token: [], second: [], allow: [], count: [], cost: [], seg: [] },
      shadows: { n: 0, token: [], atMs: [], cost: [], seg: [] },
    };
  }

  #grow(): void {
    const old = this.#b;
    this.#cap *= 2;
    const b = this.#fresh();
    b.what.set(old.what);
    b.atMs.set(old.atMs);
    b.cost.set(old.cost);
    b.slot.set(old.slot);
    this.#b = { ...old, what: b.what, atMs: b.atMs, cost: b.cost, slot: b.slot };
  }
}

/** The buffers to move with a batch. */
export function transferOf(b: DecisionBatch): ArrayBuffer[] {
  return [b.what.buffer, b.atMs.buffer, b.cost.buffer, b.slot.buffer] as ArrayBuffer[];
}

/**
 * Calls `each` with every entry of `b` that crossed one by one, in order, as
 * the item the collector queues (counted decisions are not visited: see
 * Collector.collectBatch).
 */
export function forEachDecision(
  b: DecisionBatch,
  names: readonly string[],
  each: (item: ObservedItem, what: Queued, ruleId: string, atMs: number, slot: number) => void,
): void {
  for (let i = 0; i < b.n; i++) {
    const atMs = b.atMs[i]!;
    each(itemAt(b, names, i), b.what[i] as Queued, b.rule[i]!, atMs, b.slot[i]!);
  }
}

/** The `i`-th entry of `b` as the item the collector reads. */
export function itemAt(b: DecisionBatch, names: readonly string[], i: number): ObservedItem {
  const k = names.length;
  const params: Record<string, ParamValue> = {};
  for (let j = 0; j < k; j++) {
    const v = b.values[i * k + j];
    if (v !== undefined) params[names[j]!] = v;
  }
  return { token: b.token[i]!, cost: b.cost[i]!, params, atMs: b.atMs[i]! };
}
