/**
 * Messages between nodes: takes and refunds (services/check/owner-link.ts) and hand-offs
 * (Moleculer actions). Kept small: takes are on the check path. Every one
 * that arrives from the network is validated first (wire-schema.ts,
 * action-params.ts).
 */
import type { CompiledRule, Params, RuleDecision, RuleMode, TokenKey } from '../../lib/index.ts';
import type { TokenActorSnapshot } from '../../actors/index.ts';

/** What the owner needs of a rule to run its token: the limit and the mode. */
export interface RuleRef {
  id: string;
  rate: number;
  periodMs: number;
  burst: number;
  mode: RuleMode;
}

export interface TakeItem {
  token: TokenKey;
  rule: RuleRef;
  cost: number;
  /** The request's parameters, for the behavioural record (set when collection is on). */
  params?: Params;
  /** Time the gateway took the request (ms), so the owner files the record under it. */
  atMs?: number;
  /**
   * The request matched more than one rule, so another rule may deny it and
   * this take be refunded: the owner issues a take id if it allows. Absent
   * on single-rule checks, which never refund (they pay nothing for ids).
   */
  refundable?: boolean;
}

/** An owner's answer for one item: a refundable take it allowed carries the id to refund it with. */
export interface TakeDecision extends RuleDecision {
  /** Single-use id of this take in the owner's ledger (actors/take-ledger.ts). */
  takeId?: string;
}

/** The items of one check (or batch). */
export interface TakePart {
  items: TakeItem[];
}

/** Concurrent checks bound for one owner travel together: one message, many parts. */
export interface TakeParams {
  parts: TakePart[];
  /** Set when a node passed the items on to the owner it sees; it is not passed on again. */
  forwarded?: boolean;
}

/** Gives back a take the owner issued `takeId` for: at most its cost, on its token. */
export interface RefundItem {
  token: TokenKey;
  cost: number;
  takeId: string;
}

export interface RefundParams {
  items: RefundItem[];
}

export interface HandoffItem {
  rule: RuleRef;
  snapshot: TokenActorSnapshot;
}

export interface HandoffParams {
  from: string;
  items: HandoffItem[];
  /** The sender has handed over everything it is going to. */
  done: boolean;
}

/**
 * The trace side of a take: the W3C trace context (`traceparent`,
 * `tracestate`) of each part's route span, in the order of the parts.
 */
export interface TakeMeta {
  traces?: Array<Record<string, string>>;
}

/** The part of a compiled rule that travels with a take. */
export function refOf(rule: CompiledRule): RuleRef {
  return {
    id: rule.id,
    rate: rule.limit.rate,
    periodMs: rule.limit.periodMs,
    burst: rule.limit.burst,
    mode: rule.mode,
  };
}
