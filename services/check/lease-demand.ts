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
 * About how many checks of a report are told to the observer one by one
 * (the records' sample draws from them), spread over its seconds; the rest
 * are counted per second, allowed and denied apart (DecisionObserver
 * `counted`), never one by one, when the observer can. A report counts up to
 * two million checks (lease-schema.ts MAX_REPORTED): one call per check
 * held a node's main thread 0.2-1 s per report, and a `lease.batch` carries
 * hundreds of reports.
 */
export const ONE_BY_ONE = 64;

/** The windows' and the records' finest bucket: a report is recorded a second at a time. */
const SECOND_MS = 1000;

/**
 * Records a client's reported checks of `actor`'s token as requests: in its
 * window and, with `params`, told to the observer (collection), at times
 * spread evenly over the report's span ending `nowMs`, allowed and denied
 * interleaved in proportion (check i at `from + (i + 0.5) x span / n`, allowed
 * when the allowed count steps up at it). Work per report: one window update
 * per second of its span and at most {@link ONE_BY_ONE} checks told one by
 * one (the rest counted), whatever its count, when the observer counts in
 * bulk. Call inside the token's mailbox.
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
  const at = (i: number): number => Math.floor(from + (i + 0.5) * step);
  /** Allowed among the first k checks (Bresenham: check i is allowed when this steps up at it). */
  const allowedBefore = (k: number): number => Math.floor((k * report.allowed) / n);
  /** The first check at or after `ms` (from `lo`): at() never decreases. */
  const firstFrom = (ms: number, lo: number): number => {
    let k = step > 0 ? Math.max(lo, Math.min(n, Math.ceil((ms - from) / step - 0.5))) : n;
    while (k > lo && at(k - 1) >= ms) k--;
    while (k < n && at(k) < ms) k++;
    return k;
  };
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
  const itemAt = (atMs: number): ObservedItem =>
    params === undefined ? { token: actor.token, cost, atMs } : { token: actor.token, cost, params, atMs };
  const bulk = observer?.counted !== undefined;
  // One by one: the first ONE_BY_ONE checks of the report's seconds, taken evenly (at most
  // ceil(ONE_BY_ONE / seconds) of each), so every second's records have checks to sample.
  const seconds = Math.floor((nowMs - 1) / SECOND_MS) - Math.floor(from / SECOND_MS) + 1;
  const perSecond = bulk ? Math.ceil(ONE_BY_ONE / Math.max(1, seconds)) : Number.POSITIVE_INFINITY;
  let item: ObservedItem | undefined;
  for (let i = 0; i < n;) {
    const first = at(i);
    const end = firstFrom((Math.floor(first / SECOND_MS) + 1) * SECOND_MS, i + 1);
    const a = allowedBefore(end) - allowedBefore(i);
    actor.window.recordMany(at(end - 1), end - i, a, (end - i) * cost);
    if (observer !== undefined) {
      const single = Math.min(end, i + perSecond);
      for (let k = i; k < single; k++) {
        const t = at(k);
        // The collector keeps the item until its tick: one per distinct time, shared by its checks.
        if (item?.atMs !== t) item = itemAt(t);
        observer.decided(item, allowedBefore(k + 1) > allowedBefore(k) ? allowed : denied, nowMs);
      }
      if (single < end) {
        const rest = itemAt(at(single));
        const restAllowed = allowedBefore(end) - allowedBefore(single);
        const restDenied = end - single - restAllowed;
        if (restAllowed > 0) observer.counted!(rest, true, restAllowed, restAllowed * cost, nowMs);
        if (restDenied > 0) observer.counted!(rest, false, restDenied, restDenied * cost, nowMs);
      }
    }
    i = end;
  }
}
