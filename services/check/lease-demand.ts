/**
 * Leased demand, kept honest (issue 15 follow-up). A check a client decides
 * from its slice never reaches the owner, so the token's window (which
 * forecasts and pools read) and the behavioural data would miss it, and the
 * slice's grant, one take of many units, would stand in for it. So the
 * grant and the return move budget only (TokenActor.takeBudget and
 * returnBudget), and the client reports the checks it decided with its next
 * ask or return (lease-schema.ts LeaseReport), which the owner records as
 * requests ({@link recordReported}), spread evenly over the span they came
 * in.
 */
import type { TokenActor } from '../../actors/index.ts';
import type { DecisionObserver, ObservedItem } from '../../collection/index.ts';
import type { Params, RuleDecision } from '../../lib/index.ts';
import type { LeaseReport } from './lease-schema.ts';

/**
 * Records a client's reported checks of `actor`'s token as requests: in its
 * window and, with `params`, told to the observer (collection), at times
 * spread evenly over the report's span ending `nowMs`, allowed and denied
 * interleaved in proportion. Call inside the token's mailbox.
 */
export function recordReported(
  actor: TokenActor,
  report: LeaseReport,
  params: Params | undefined,
  observer: DecisionObserver | undefined,
  nowMs: number,
): void {
  const n = report.allowed + report.denied;
  if (n === 0) return;
  const cost = report.cost / n;
  const from = nowMs - report.spanMs;
  const step = report.spanMs / n;
  const decision = (allow: boolean): RuleDecision => ({
    token: actor.token,
    ruleId: actor.rule.id,
    mode: actor.rule.mode,
    allow,
    limit: actor.rule.limit.rate,
    remaining: 0,
    retryAfterMs: 0,
  });
  const allowed = decision(true);
  const denied = decision(false);
  let item: ObservedItem | undefined;
  for (let i = 0; i < n; i++) {
    const at = Math.floor(from + (i + 0.5) * step);
    // Bresenham: the i-th check is allowed when the allowed count steps up at it.
    const allow = Math.floor(((i + 1) * report.allowed) / n) > Math.floor((i * report.allowed) / n);
    actor.window.record(at, allow, cost);
    if (observer === undefined) continue;
    // The collector keeps the item until its tick: one per distinct time, shared by its checks.
    if (item?.atMs !== at)
      item =
        params === undefined
          ? { token: actor.token, cost, atMs: at }
          : { token: actor.token, cost, params, atMs: at };
    observer.decided(item, allow ? allowed : denied, nowMs);
  }
}
