import { invalidField } from '../errors.ts';

/**
 * A capacity lease a pool manager grants a token (Doorman's lease): a rate
 * the token may use until `expiresAtMs`. The token refreshes it on a cadence
 * shorter than its lifetime; a lease that is not refreshed decays.
 */
export interface Lease {
  token: string;
  /** Granted rate, in requests per rule period. */
  rate: number;
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
