/**
 * What the collection path sees of the check path: the owner's decisions and
 * refunds, each with the decided item's token, cost, parameters and time.
 * The check path (services/check) calls a DecisionObserver; the Collector and
 * the node's port to its collection worker are two.
 */
import type { Params, RuleDecision, TokenKey } from '../lib/index.ts';

/** What the collector reads of a decided item (a take item has these fields and more). */
export interface ObservedItem {
  token: TokenKey;
  cost: number;
  /** The request's parameters (set when collection is on). */
  params?: Params;
  /** Time the gateway took the request (ms); else the time it was decided. */
  atMs?: number;
  /**
   * Set on a take that may be refunded (a check of several rules): a
   * decision left out of the records' sample still crosses to the
   * collection worker as its time and cost, so that its refund is matched
   * (collector-batch.ts). Others are never refunded.
   */
  refundable?: boolean;
}

/** Told of every decision an owner's token actors make. */
export interface DecisionObserver {
  /** After the actor decided `item` (its own token's decision, before any refund). */
  decided(item: ObservedItem, decision: RuleDecision, nowMs: number): void;
  /** The request was denied by another rule: `item` (as it was taken) gave `item.cost` back. */
  refunded(item: ObservedItem, nowMs: number): void;
  /**
   * `count` more decisions of `item`'s token at `item.atMs`, all allowed or
   * all denied, `cost` in all, to be counted (in the buckets) and never
   * recorded one by one: the bulk of the checks a client reports deciding
   * from a lease (services/check/lease-demand.ts). Without it, they are
   * told one by one through {@link decided}. Never refundable.
   */
  counted?(item: ObservedItem, allow: boolean, count: number, cost: number, nowMs: number): void;
}
