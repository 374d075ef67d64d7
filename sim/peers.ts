import {
  HoldDownPolicy,
  QraFeatures,
  fitQuantileRegression,
  invalidField,
  normalQuantile,
  unitsFor,
} from '../lib/index.ts';
import type { CapacityPolicy, PolicyObservation } from '../lib/index.ts';
import type { FrontierPoint } from './frontier.ts';
import { runReplay } from './replay.ts';
import type { ReplayData } from './setup.ts';

// Two peers that say what bounds a replay's throttling at a given cost when
// the physical limit (sim/foresight-bound.ts) does not: the limit knows every
// step's demand, and on bursty traces it throttles nothing at the reactive
// rule's cost, so it cannot tell a weak policy from unforecastable demand.
//
// - The fitted causal peer reads only what a policy may read at its decision
//   (the demand up to the step just ended and the served forecast), but its
//   rule is fitted in hindsight on the very steps it is scored on: a linear
//   quantile regression of the demand a lead ahead on those features, one fit
//   per quantile (the `qra` policy's rule, lib/allocation/qra.ts, which
//   learns it online from its past). A policy that learns from the same
//   features can hardly do better; where this peer misses a target, more
//   features or a better learner are what it would take, not a better price
//   or sweep.
// - The neighbour peer knows the demand of the steps either side of the one
//   it serves, but not that step's own: it holds a Poisson quantile of their
//   mean. Where it meets a target that no causal policy meets, the bound is
//   what can be known a lead ahead; where it misses too, the demand is
//   counting noise (a handful of requests a step), which nothing removes.

/** Quantile levels of the peers' sweeps: the quantile policy's, widened at both ends. */
export const PEER_QUANTILES: readonly number[] = [
  0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999,
];

/** Steps either side the neighbour peer knows (each a front of its own, then the best). */
export const NEIGHBOUR_SPANS: readonly number[] = [1, 2, 3];

/**
 * The `q` quantile of a Poisson count of mean `mean`: the least k with
 * P(N <= k) >= q. Exact (summing the probabilities) up to a mean of 400,
 * above it the Cornish-Fisher expansion `mean + z sqrt(mean) + (z^2 - 1) / 6`
 * rounded up (within one count of the exact value there).
 */
export function poissonQuantile(mean: number, q: number): number {
  if (!(Number.isFinite(mean) && mean >= 0)) throw invalidField('mean', 'a finite number >= 0', mean);
  if (!(q > 0 && q < 1)) throw invalidField('quantile', 'a number strictly between 0 and 1', q);
  if (mean === 0) return 0;
  if (mean > 400) {
    const z = normalQuantile(q);
    return Math.max(0, Math.ceil(mean + z * Math.sqrt(mean) + (z * z - 1) / 6 - 0.5));
  }
  let p = Math.exp(-mean);
  let cdf = p;
  let k = 0;
  while (cdf < q && p > 0) {
    k++;
    p *= mean / k;
    cdf += p;
  }
  return k;
}

/** Steps served by a decision at the end of step `t`: units ready at t + 1 + lead. */
const leadOf = (data: ReplayData): number => data.model.leadSteps + 1;

/**
 * The fitted causal peer's rows: {@link QraFeatures} (lib: what a pool's
 * `qra` policy reads at its decisions) at the end of every step of the
 * trace, with the served forecast summed over tokens at the lead horizon.
 * Row t reads steps up to t only, and forecasts made at t.
 */
export function causalFeatureRows(data: ReplayData): Float64Array[] {
  const features = new QraFeatures(data.model.leadSteps, data.stepMs);
  const fc = data.forecasts;
  const H = fc.horizons.length - 1;
  const rows: Float64Array[] = [];
  for (let t = 0; t < data.demand.length; t++) {
    const j = t - fc.runFrom;
    let p50 = 0;
    let p90 = 0;
    for (const f of fc.perToken) {
      p50 += f.p50[H]![j] ?? Number.NaN;
      p90 += f.p90[H]![j] ?? Number.NaN;
    }
    rows.push(features.push(data.demand[t]!, p50, p90));
  }
  return rows;
}

/** Holds units for a fixed linear rule of {@link causalFeatureRows} (the fitted causal peer's rule). */
export class LinearRulePolicy implements CapacityPolicy {
  readonly name = 'fitted-causal';
  constructor(
    readonly rows: readonly Float64Array[],
    readonly coefficients: Float64Array,
  ) {}
  decide(obs: PolicyObservation): number {
    const x = this.rows[obs.step]!;
    let level = 0;
    for (let k = 0; k < x.length; k++) level += this.coefficients[k]! * x[k]!;
    return unitsFor(Math.max(0, level), obs.unitCapacity);
  }
}

/**
 * The fitted causal peer's front: per quantile level, the rule fitted on the
 * scored steps (hindsight) replayed through the allocation code, held for
 * the lead as live pools hold.
 */
export function fittedCausalFront(
  data: ReplayData,
  quantiles: readonly number[] = PEER_QUANTILES,
): FrontierPoint[] {
  const L = leadOf(data);
  const rows = causalFeatureRows(data);
  const X = rows.slice(data.start, Math.max(data.start, data.demand.length - L));
  const y = data.demand.slice(data.start + L);
  return quantiles.map((q) => {
    const rule = new LinearRulePolicy(rows, fitQuantileRegression(X, y, q));
    const r = runReplay(data, new HoldDownPolicy(rule, L));
    return { setting: q, cost: r.cost, throttledFraction: r.throttledFraction, objective: r.objective };
  });
}

/**
 * Knows the demand of the `span` steps either side of every step it serves
 * but not that step's: at the end of step t it holds, for each step s the
 * units asked now could serve before the next decision's are ready
 * (t + 1 .. t + 1 + lead, as the oracle policy), the Poisson `q` quantile
 * of the mean of s's neighbours.
 */
export class NeighbourPolicy implements CapacityPolicy {
  readonly name = 'neighbours';
  constructor(
    readonly demand: Float64Array,
    readonly span: number,
    readonly quantile: number,
  ) {
    if (!(Number.isInteger(span) && span >= 1)) throw invalidField('span', 'an integer >= 1', span);
  }
  decide(obs: PolicyObservation): number {
    const d = this.demand;
    let units = 0;
    const end = Math.min(d.length - 1, obs.step + 1 + obs.leadSteps);
    for (let s = obs.step + 1; s <= end; s++) {
      let sum = 0;
      let n = 0;
      for (let i = Math.max(0, s - this.span); i <= Math.min(d.length - 1, s + this.span); i++)
        if (i !== s) {
          sum += d[i]!;
          n++;
        }
      const level = n > 0 ? poissonQuantile(sum / n, this.quantile) : 0;
      units = Math.max(units, unitsFor(level, obs.unitCapacity));
    }
    return units;
  }
}

/** The neighbour peer's front: every span and quantile level (the best of them is read off it). */
export function neighbourFront(
  data: ReplayData,
  spans: readonly number[] = NEIGHBOUR_SPANS,
  quantiles: readonly number[] = PEER_QUANTILES,
): FrontierPoint[] {
  return spans.flatMap((span) =>
    quantiles.map((q) => {
      const r = runReplay(data, new NeighbourPolicy(data.demand, span, q));
      return { setting: q, cost: r.cost, throttledFraction: r.throttledFraction, objective: r.objective };
    }),
  );
}
