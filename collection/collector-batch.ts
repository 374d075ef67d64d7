/**
 * Decisions as they cross from a node's main thread to its collection
 * worker: one message per collector tick, numbers in typed arrays (moved,
 * not copied) and, per decision, the token and the values of the parameters
 * anonymisation reads (see Collector.reads); nothing else of the request
 * crosses. Pure: encoded on the main thread, decoded on the worker.
 */
import type { ParamValue, TokenKey } from '../lib/index.ts';
import type { Queued } from './collector-queue.ts';
import type { ObservedItem } from './observer.ts';

export interface DecisionBatch {
  n: number;
  /** Queued per decision: refund, allowed or denied. */
  what: Uint8Array;
  /** Request time (the item's, else the time it was decided), ms. */
  atMs: Float64Array;
  cost: Float64Array;
  token: TokenKey[];
  /** Deciding rule per decision; '' for a refund. */
  rule: string[];
  /** The values of `names` for each decision, decision after decision (n * names.length). */
  values: (ParamValue | undefined)[];
}

/** Builds batches of decisions; `names` are the parameters that cross. */
export class DecisionBatchBuilder {
  readonly #names: readonly string[];
  #b: DecisionBatch;
  #cap: number;

  constructor(names: readonly string[], capacity = 256) {
    this.#names = names;
    this.#cap = capacity;
    this.#b = this.#fresh(capacity);
  }

  get length(): number {
    return this.#b.n;
  }

  add(item: ObservedItem, what: Queued, ruleId: string, nowMs: number): void {
    if (this.#b.n === this.#cap) this.#grow();
    const b = this.#b;
    const i = b.n++;
    b.what[i] = what;
    b.atMs[i] = item.atMs ?? nowMs;
    b.cost[i] = item.cost;
    b.token.push(item.token);
    b.rule.push(ruleId);
    const params = item.params;
    for (const name of this.#names) b.values.push(params === undefined ? undefined : params[name]);
  }

  /** The batch so far (typed arrays cut to its length), and a fresh one begun. */
  take(): DecisionBatch {
    const b = this.#b;
    const n = b.n;
    const out: DecisionBatch = {
      n,
      what: b.what.slice(0, n),
      atMs: b.atMs.slice(0, n),
      cost: b.cost.slice(0, n),
      token: b.token,
      rule: b.rule,
      values: b.values,
    };
    this.#b = this.#fresh(this.#cap);
    return out;
  }

  #fresh(cap: number): DecisionBatch {
    return {
      n: 0,
      what: new Uint8Array(cap),
      atMs: new Float64Array(cap),
      cost: new Float64Array(cap),
      token: [],
      rule: [],
      values: [],
    };
  }

  #grow(): void {
    const old = this.#b;
    this.#cap *= 2;
    const b = this.#fresh(this.#cap);
    b.what.set(old.what);
    b.atMs.set(old.atMs);
    b.cost.set(old.cost);
    b.n = old.n;
    b.token = old.token;
    b.rule = old.rule;
    b.values = old.values;
    this.#b = b;
  }
}

/** The buffers to move with a batch. */
export function transferOf(b: DecisionBatch): ArrayBuffer[] {
  return [b.what.buffer, b.atMs.buffer, b.cost.buffer] as ArrayBuffer[];
}

/** Calls `each` with every decision of `b`, in order, as the item the collector queues. */
export function forEachDecision(
  b: DecisionBatch,
  names: readonly string[],
  each: (item: ObservedItem, what: Queued, ruleId: string, atMs: number) => void,
): void {
  const k = names.length;
  for (let i = 0; i < b.n; i++) {
    const params: Record<string, ParamValue> = {};
    for (let j = 0; j < k; j++) {
      const v = b.values[i * k + j];
      if (v !== undefined) params[names[j]!] = v;
    }
    const atMs = b.atMs[i]!;
    each({ token: b.token[i]!, cost: b.cost[i]!, params, atMs }, b.what[i] as Queued, b.rule[i]!, atMs);
  }
}
