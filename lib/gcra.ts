// Generic Cell Rate Algorithm, virtual-scheduling form: ITU-T Recommendation
// I.371 (Traffic control and congestion control in B-ISDN), and the ATM Forum
// Traffic Management Specification 4.0, section 4.4.2. The only state is the
// theoretical arrival time (TAT) of the next conforming cell; a request of
// `cost` cells conforms when its TAT is no further than the tolerance ahead of
// now. Equivalent to a token bucket with capacity `burst` refilled at `rate` per
// `periodMs`, but O(1) state, no timers and no drift.
import { invalidField } from './errors.ts';

/** `rate` requests per `periodMs`, up to `burst` at once. */
export interface GcraLimit {
  rate: number;
  periodMs: number;
  burst: number;
}

/**
 * Theoretical arrival time in ms. `{ tat: 0 }` (any tat <= now) is a full
 * bucket. Keep the object whole (snapshots included): `lo` carries what
 * rounding cut off `tat`.
 */
export interface GcraState {
  tat: number;
  /**
   * Low-order part of the TAT (the true TAT is `tat + lo`). At epoch times a
   * double resolves only 2^-12 ms, and adding a T such as 1000/7 rounds the
   * same way every time, so without it a busy token's TAT drifts by ~0.1 us
   * per request. Compensated (two-sum) addition keeps it exact.
   */
  lo?: number;
}

export interface GcraDecision {
  allow: boolean;
  /** Whole cost-1 requests that would still pass right now, after this decision. */
  remaining: number;
  /** 0 when allowed; ms until the same request would pass; -1 when it never can (cost > burst). */
  retryAfterMs: number;
  /** Ms until the bucket is full again. */
  resetAfterMs: number;
}

/**
 * The burst tolerance in ms: `burst` emission intervals T = periodMs / rate.
 * In I.371's terms this is tau + T: a take conforms while its new TAT is at
 * most this far ahead of now.
 */
export function gcraToleranceMs(limit: GcraLimit): number {
  return limit.burst * (limit.periodMs / limit.rate);
}

/**
 * The state under a limit that may have just been raised (a capacity lease):
 * a TAT further ahead of now than `limit`'s tolerance is brought back to
 * exactly that, an empty bucket under the new limit. Under one fixed limit
 * this never happens (a conforming take leaves TAT - now <= tau + T, and
 * time only shrinks it); after a raise, takes made under the lower rate
 * stretched the TAT by that rate's longer interval, and without the cap the
 * new limit would start in debt. Returns `state` itself when within the
 * tolerance, else a fresh state.
 */
export function gcraCapDebt(state: GcraState, limit: GcraLimit, nowMs: number): GcraState {
  const tolerance = gcraToleranceMs(limit);
  return state.tat - nowMs + (state.lo ?? 0) > tolerance ? { tat: nowMs + tolerance } : state;
}

function checkCost(cost: number): void {
  if (!(cost >= 0) || !Number.isFinite(cost)) {
    throw invalidField('cost', 'a finite number of at least 0', cost);
  }
}

/**
 * `base + add` as a (high, low) pair: Knuth's two-sum, exact in IEEE doubles.
 * `baseLo` is the low part already carried by `base`.
 */
function add(base: number, baseLo: number, addend: number): [number, number] {
  const s = base + addend;
  const bb = s - base;
  const lo = baseLo + (base - (s - bb)) + (addend - bb);
  // Fold the low part back when it has grown past rounding size (fast two-sum).
  const hi = s + lo;
  return [hi, lo - (hi - s)];
}

/**
 * Decides a request of `cost` at `nowMs`; when it conforms and `commit` is
 * true, moves the state's TAT on. One function for take and peek, without
 * intermediate objects: the check path runs it once per decision (issue 15).
 */
function evaluate(
  state: GcraState,
  limit: GcraLimit,
  nowMs: number,
  cost: number,
  commit: boolean,
): GcraDecision {
  checkCost(cost);
  const t = limit.periodMs / limit.rate; // emission interval T
  const tolerance = gcraToleranceMs(limit); // burst tolerance, tau + T in I.371 terms
  // What is left is rounding of products and quotients relative to T and the
  // tolerance: a billionth of either is far below anything observable.
  const eps = (tolerance + t) * 1e-9;
  const lo0 = state.lo ?? 0;
  // tat - now is exact (Sterbenz) while both are epoch-sized, so `ahead` values are precise.
  const busy = state.tat - nowMs + lo0 > 0;
  // The new TAT, base + cost * T, as a (high, low) pair: Knuth's two-sum, exact in IEEE
  // doubles, `baseLo` being the low part `base` already carries; the low part is folded
  // back once it has grown past rounding size (fast two-sum).
  const base = busy ? state.tat : nowMs;
  const baseLo = busy ? lo0 : 0;
  const addend = cost * t;
  const sum = base + addend;
  const bb = sum - base;
  const sumLo = baseLo + (base - (sum - bb)) + (addend - bb);
  const newTat = sum + sumLo;
  const newLo = sumLo - (newTat - sum);
  const never = cost > limit.burst;
  const newAhead = newTat - nowMs + newLo;
  const allow = !never && newAhead <= tolerance + eps;
  const tat = allow ? newTat : state.tat;
  const lo = allow ? newLo : lo0;
  const ahead = Math.max(tat - nowMs + lo, 0);
  const remaining = Math.max(0, Math.floor((tolerance - ahead + eps) / t));
  let retryAfterMs = 0;
  if (never) retryAfterMs = -1;
  else if (!allow) retryAfterMs = Math.max(1, Math.ceil(newAhead - tolerance - eps));
  const resetAfterMs = Math.max(0, Math.ceil(ahead - eps));
  if (commit && allow) {
    state.tat = tat;
    if (lo !== 0 || state.lo !== undefined) state.lo = lo;
  }
  return { allow, remaining, retryAfterMs, resetAfterMs };
}

/**
 * Takes `cost` from the bucket at `nowMs` if it conforms; on a denial the
 * state is left unchanged, so a denied request consumes nothing.
 *
 * @throws InputError when `cost` is negative or not finite.
 */
export function gcraTake(state: GcraState, limit: GcraLimit, nowMs: number, cost: number): GcraDecision {
  return evaluate(state, limit, nowMs, cost, true);
}

/** The answer {@link gcraTake} would give, without changing the state. */
export function gcraPeek(state: GcraState, limit: GcraLimit, nowMs: number, cost: number): GcraDecision {
  return evaluate(state, limit, nowMs, cost, false);
}

/**
 * Undoes an allowed {@link gcraTake} of `cost` (e.g. another rule denied the
 * same request). Moving TAT back by cost*T leaves the state as if the request
 * had never been taken; if the bucket has drained past that point since, any
 * TAT <= now means "full", so clamping at now loses nothing and keeps the
 * state from drifting into the past.
 */
export function gcraRefund(state: GcraState, limit: GcraLimit, nowMs: number, cost: number): void {
  checkCost(cost);
  const lo0 = state.lo ?? 0;
  if (state.tat - nowMs + lo0 <= 0) return;
  const [tat, lo] = add(state.tat, lo0, -cost * (limit.periodMs / limit.rate));
  if (tat - nowMs + lo <= 0) {
    state.tat = nowMs;
    if (state.lo !== undefined) state.lo = 0;
  } else {
    state.tat = tat;
    if (lo !== 0 || state.lo !== undefined) state.lo = lo;
  }
}
