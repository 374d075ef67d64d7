import { invalidField } from '../errors.ts';

/**
 * A capacity lease a pool manager grants a token (Doorman's lease): a rate
 * the token may use until `expiresAtMs`. The token refreshes it on a cadence
 * shorter than its lifetime; a lease that is not refreshed decays.
 */
export interface Lease {
  token: string;
  /**
   * Granted rate, in requests per the token's rule period (the unit of the
   * rule's own `rate`), so it compares with the rule directly. A token that
   * did not tell its pool its rule gets requests per pool step.
   */
  rate: number;
  /**
   * The GCRA burst the token may take at once under this lease (lib
   * {@link leaseBurst}), in requests; absent (a token that did not send its
   * rule's burst, a manager before it was sent), the rule's own burst.
   */
  burst?: number;
  grantedAtMs: number;
  expiresAtMs: number;
}

/**
 * The token's effective limit at `nowMs`: the lease's rate while the lease
 * is valid (raised above the rule's limit when capacity is reserved for the
 * token, lowered when the pool is short); after expiry, when the manager is
 * unreachable, it moves linearly from the lease's rate back to the rule's
 * own limit over `decayMs`, and then stays there. It is never zero or
 * unlimited merely because the manager went away: with no lease at all, the
 * rule's limit applies.
 */
export function effectiveLimit(
  ruleLimit: number,
  lease: Lease | undefined,
  nowMs: number,
  decayMs: number,
): number {
  if (!(Number.isFinite(ruleLimit) && ruleLimit > 0))
    throw invalidField('ruleLimit', 'a positive finite number', ruleLimit);
  if (!(Number.isFinite(decayMs) && decayMs >= 0))
    throw invalidField('decayMs', 'a finite number >= 0', decayMs);
  if (lease === undefined) return ruleLimit;
  if (!(Number.isFinite(lease.rate) && lease.rate >= 0))
    throw invalidField('lease.rate', 'a finite number >= 0', lease.rate);
  if (nowMs < lease.expiresAtMs) return lease.rate;
  const f = decayMs === 0 ? 1 : Math.min(1, (nowMs - lease.expiresAtMs) / decayMs);
  return lease.rate + (ruleLimit - lease.rate) * f;
}

/**
 * How far a pool's leases may move its tokens' limits (the pool's `limits`):
 * - `raise-only` (the default): a lease raises a token above its rule's
 *   limit when the pool holds spare capacity, and lowers it below the rule
 *   only when the pool is at `maxUnits` and demand exceeds its capacity
 *   (the pool can grow no further); otherwise the rule's own limit applies;
 * - `protect`: the pool's ready capacity bounds its tokens: a lease is the
 *   token's fair share, below its rule whenever the pool is short (units
 *   still starting, a forecast that was too low), to protect the backend.
 */
export const LeaseLimits = ['raise-only', 'protect'] as const;
export type LeaseLimits = (typeof LeaseLimits)[number];

/** The pool's state when it grants leases, for {@link leaseRate}. */
export interface LeaseContext {
  limits: LeaseLimits;
  /** The pool holds `maxUnits` ready and demand exceeds their capacity. */
  shortAtMax: boolean;
}

/**
 * The rate a token's lease carries, from its fair share of the pool's ready
 * capacity and its rule's own limit (both in the same units; `ruleRate`
 * undefined when the token did not say, which leaves the share as it is).
 * Under `raise-only` the lease never goes below the rule's limit unless the
 * pool is short at `maxUnits` (see {@link LeaseLimits}).
 */
export function leaseRate(share: number, ruleRate: number | undefined, ctx: LeaseContext): number {
  if (!(Number.isFinite(share) && share >= 0)) throw invalidField('share', 'a finite number >= 0', share);
  if (ruleRate === undefined || ctx.limits === 'protect' || ctx.shortAtMax) return share;
  if (!(Number.isFinite(ruleRate) && ruleRate > 0))
    throw invalidField('ruleRate', 'a positive finite number', ruleRate);
  return Math.max(share, ruleRate);
}

/**
 * The burst a lease of `rate` (requests per `rule.periodMs`) carries: the
 * rule's burst tolerance in time, `rule.burst / rule.rate` periods, at the
 * lease's rate, so that a lease moves a token's rate and not the shape of
 * its rule; at most one pool step of it (the lease is drawn from a step's
 * capacity, which is what the pool plans and a replay counts), and never
 * below the rule's own burst (a lease above the rule never makes it
 * stricter). Keeping the rule's burst count instead shrinks the tolerance
 * by the factor the rate grew: a rule of 0.5/s, burst 1, raised to 4/s
 * would deny any request a moment ahead of its even spacing (issue 12's
 * WorldCup98 run lost 7-12 % of requests so, in seconds within the lease).
 *
 * @example leaseBurst(4, { rate: 0.5, periodMs: 1000, burst: 1 }, 5000) // 8: 2 s at 4/s
 */
export function leaseBurst(
  rate: number,
  rule: { rate: number; periodMs: number; burst: number },
  stepMs: number,
): number {
  if (!(Number.isFinite(rate) && rate >= 0)) throw invalidField('rate', 'a finite number >= 0', rate);
  if (!(Number.isFinite(rule.rate) && rule.rate > 0))
    throw invalidField('rule.rate', 'a positive finite number', rule.rate);
  if (!(Number.isFinite(rule.periodMs) && rule.periodMs > 0))
    throw invalidField('rule.periodMs', 'a positive finite number', rule.periodMs);
  if (!(Number.isFinite(rule.burst) && rule.burst >= 1))
    throw invalidField('rule.burst', 'a finite number >= 1', rule.burst);
  if (!(Number.isFinite(stepMs) && stepMs > 0))
    throw invalidField('stepMs', 'a positive finite number', stepMs);
  const periods = Math.min(rule.burst / rule.rate, stepMs / rule.periodMs);
  return Math.max(rule.burst, rate * periods);
}
