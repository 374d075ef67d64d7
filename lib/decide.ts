/**
 * Combines the per-token decisions of one request into the request's answer.
 * A request is allowed only if every matching enforce-mode rule allows it;
 * shadow rules are counted and reported but never deny.
 */

import type { RuleMode } from './rules.ts';

/**
 * One token's answer to one request under one rule: what its `TokenActor`
 * returns, what an owner sends back for a take, and what
 * {@link combineDecisions} combines. The one decision type.
 */
export interface RuleDecision {
  token: string;
  ruleId: string;
  /** In shadow mode `allow` is the would-be decision; the caller lets the request through regardless. */
  mode: RuleMode;
  allow: boolean;
  /** The effective rate (the rule's, adjusted by a capacity lease): requests per the rule's period. */
  limit: number;
  remaining: number;
  /** 0 when allowed; -1 when the request can never pass (cost above burst). */
  retryAfterMs: number;
  /**
   * Ms until the token's bucket is full again. The token actor always sets
   * it; combining does not need it, so other sources may leave it out.
   */
  resetAfterMs?: number;
}

/** The `headroom.v1.check` reply. Fields are API: add, never rename. */
export interface CheckReply {
  allow: boolean;
  /** Id of the deciding rule: the denying one, or the tightest allowing one; null when no enforce rule matched. */
  rule: string | null;
  limit: number | null;
  remaining: number | null;
  retryAfterMs: number;
  tokens: string[];
  /** Shadow-mode rules that would have denied this request. */
  shadowDenied: string[];
}

/** The fields of a {@link CheckReply}, in the order the nodes write them (a batch's columns too). */
export const CHECK_REPLY_FIELDS = [
  'allow',
  'rule',
  'limit',
  'remaining',
  'retryAfterMs',
  'tokens',
  'shadowDenied',
] as const satisfies readonly (keyof CheckReply)[];

export interface Combined {
  reply: CheckReply;
  /** Indexes (into the decisions given) of those that took budget and must give it back: the request was denied. */
  refunds: number[];
}

/** -1 ("never") sorts above every finite wait. */
const waitOrder = (ms: number): number => (ms < 0 ? Number.POSITIVE_INFINITY : ms);

/**
 * The reply of a request that matched one rule, its one decision `d` (what
 * {@link combineDecisions} answers for `[d]`, which never refunds), without
 * the list and the {@link Combined} around it: a batch's checks mostly match
 * one rule each. Undefined for a mode it does not know (combine those).
 */
export function replyOfOne(d: RuleDecision): CheckReply | undefined {
  if (d.mode === 'enforce') {
    const { allow, ruleId, limit, remaining } = d;
    const retryAfterMs = allow ? 0 : d.retryAfterMs;
    return { allow, rule: ruleId, limit, remaining, retryAfterMs, tokens: [d.token], shadowDenied: [] };
  }
  if (d.mode === 'shadow') return shadowReply(d.token, d.allow ? undefined : d.ruleId);
  return undefined;
}

/**
 * The reply of a request whose one matching rule is in shadow mode: always
 * allowed, naming the rule in `shadowDenied` when it would have denied
 * (`deniedRule`). The client's leases answer a shadow slice's checks with it.
 */
export function shadowReply(token: string, deniedRule: string | undefined): CheckReply {
  return {
    allow: true,
    rule: null,
    limit: null,
    remaining: null,
    retryAfterMs: 0,
    tokens: [token],
    shadowDenied: deniedRule === undefined ? [] : [deniedRule],
  };
}

export function combineDecisions(decisions: readonly RuleDecision[]): Combined {
  // Most requests match one rule: the same answer as below, without the intermediate lists.
  if (decisions.length === 1) {
    const reply = replyOfOne(decisions[0]!);
    if (reply !== undefined) return { reply, refunds: [] };
  }
  const tokens = decisions.map((d) => d.token);
  const shadowDenied = decisions.filter((d) => d.mode === 'shadow' && !d.allow).map((d) => d.ruleId);
  const enforce = decisions.filter((d) => d.mode === 'enforce');
  const denied = enforce.filter((d) => !d.allow);

  if (denied.length > 0) {
    // The request waits for its slowest denying rule: retrying sooner is denied again.
    let decider = denied[0]!;
    for (const d of denied) if (waitOrder(d.retryAfterMs) > waitOrder(decider.retryAfterMs)) decider = d;
    return {
      reply: {
        allow: false,
        rule: decider.ruleId,
        limit: decider.limit,
        remaining: decider.remaining,
        retryAfterMs: decider.retryAfterMs,
        tokens,
        shadowDenied,
      },
      // Every token that took budget gives it back, so a denied request consumes nothing.
      refunds: decisions.flatMap((d, i) => (d.allow ? [i] : [])),
    };
  }

  if (enforce.length === 0) {
    return {
      reply: { allow: true, rule: null, limit: null, remaining: null, retryAfterMs: 0, tokens, shadowDenied },
      refunds: [],
    };
  }
  // Allowed: report the tightest rule, the one that will deny first.
  let decider = enforce[0]!;
  for (const d of enforce) if (d.remaining < decider.remaining) decider = d;
  return {
    reply: {
      allow: true,
      rule: decider.ruleId,
      limit: decider.limit,
      remaining: decider.remaining,
      retryAfterMs: 0,
      tokens,
      shadowDenied,
    },
    refunds: [],
  };
}
