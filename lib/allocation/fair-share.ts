import { invalidField } from '../errors.ts';

/** One claimant on a pool's capacity: what it wants and its weight (rule priority). */
export interface Claim {
  id: string;
  /** Capacity wanted, in the pool's units (requests per period); at least 0. */
  want: number;
  /** Relative weight under contention; positive. */
  weight: number;
}

function checkClaims(capacity: number, claims: readonly Claim[]): void {
  if (!(Number.isFinite(capacity) && capacity >= 0))
    throw invalidField('capacity', 'a finite number >= 0', capacity);
  for (const c of claims) {
    if (!(Number.isFinite(c.want) && c.want >= 0))
      throw invalidField(`claims[${c.id}].want`, 'a finite number >= 0', c.want);
    if (!(Number.isFinite(c.weight) && c.weight > 0))
      throw invalidField(`claims[${c.id}].weight`, 'a positive number', c.weight);
  }
}

/**
 * Weighted max-min fair share (water filling, as in Doorman's
 * `ProportionalShare`/`FairShare` algorithms and Bertsekas & Gallager,
 * "Data Networks", 6.5.2): claims are served in order of `want / weight`;
 * each gets its want while that fits under an equal share per unit of
 * weight of what is left, and the rest split what is left by weight.
 * No claim gets more than it wants; the sum is `min(capacity, sum of wants)`.
 */
export function maxMinFairShare(capacity: number, claims: readonly Claim[]): Map<string, number> {
  checkClaims(capacity, claims);
  const out = new Map<string, number>();
  const order = [...claims].sort((a, b) => a.want / a.weight - b.want / b.weight);
  let left = capacity;
  let weight = order.reduce((s, c) => s + c.weight, 0);
  for (let i = 0; i < order.length; i++) {
    const c = order[i]!;
    const perWeight = weight > 0 ? left / weight : 0;
    if (c.want <= perWeight * c.weight) {
      out.set(c.id, c.want);
      left -= c.want;
      weight -= c.weight;
      continue;
    }
    // Every remaining claim wants more than its share: all get their share.
    for (let j = i; j < order.length; j++) out.set(order[j]!.id, perWeight * order[j]!.weight);
    return out;
  }
  return out;
}

/**
 * Max-min fair share, then any spare capacity spread by weight, so that a
 * lease is raised above the want when the pool holds more than is wanted.
 */
export function shareWithSpare(capacity: number, claims: readonly Claim[]): Map<string, number> {
  const out = maxMinFairShare(capacity, claims);
  let used = 0;
  for (const v of out.values()) used += v;
  const spare = capacity - used;
  const weight = claims.reduce((s, c) => s + c.weight, 0);
  if (spare > 1e-12 && weight > 0)
    for (const c of claims) out.set(c.id, out.get(c.id)! + (spare * c.weight) / weight);
  return out;
}
