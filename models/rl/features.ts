import type { PolicyObservation } from '../../lib/index.ts';

/**
 * The RL state: a few coarse, scale-free features, so that one table fits
 * any trace (spread, trend and volatility are ratios). Bins were set once
 * from first principles, not fitted to a trace. The table is kept small on
 * purpose (90 states): rewards are dominated by rare throttling, so each
 * state needs many visits before its own values beat pooled ones. Measured
 * on seeded synthetic traces and the first halves of the shared traces
 * (bench/rl-holdout.ts), dropping hour of day, utilisation and forecast
 * scale from a 1080-state table improved the cost/throttling frontier:
 * hour of day in UTC does not carry over between traffic from different
 * time zones, utilisation mostly echoes the policy's own last choice, and
 * scale only mattered for rounding in tiny pools.
 */
const SPREAD_EDGES = [0.05, 0.1, 0.2, 0.4];
const TREND_EDGES = [0.9, 1.1];
/** Peak / mean over the recent window: calm (< 1.5), moderate, bursty (>= 3). */
const VOLATILITY_EDGES = [1.5, 3];

function bin(x: number, edges: readonly number[]): number {
  let i = 0;
  while (i < edges.length && x >= edges[i]!) i++;
  return i;
}

/** Number of distinct states {@link stateOf} returns. */
export const STATE_COUNT =
  (SPREAD_EDGES.length + 1) * (TREND_EDGES.length + 1) * 2 * (VOLATILITY_EDGES.length + 1);

/** Steps of the window whose peak-to-mean ratio is the volatility feature: four lead times. */
export function volatilityWindow(leadSteps: number): number {
  return 4 * (leadSteps + 1);
}

/** Named features, for inspection and tests. */
export interface RlFeatures {
  /** (p90 - p50) / p50 of the forecast at the lead horizon. */
  spread: number;
  /** p50 at the lead horizon / demand of the step just ended. */
  trend: number;
  /** Any throttling in the recent window. */
  throttled: boolean;
  /**
   * Peak / mean demand of the last {@link volatilityWindow} steps: high
   * while bursts come and go, so headroom is held through a volatile spell
   * and released in a calm one.
   */
  peakToMean: number;
}

/** Reads the features from an observation (the last horizon is the lead horizon). */
export function featuresOf(obs: PolicyObservation, recentlyThrottled: boolean, peakToMean = 1): RlFeatures {
  const c = obs.unitCapacity;
  const last = obs.wants.horizons.length - 1;
  const p50 = Math.max(0, obs.wants.p50[last] ?? obs.demand);
  const p90 = obs.wants.p90[last] ?? p50;
  const floor = 0.1 * c;
  return {
    spread: Number.isFinite(p90) && Number.isFinite(p50) ? Math.max(0, p90 - p50) / Math.max(p50, floor) : 0,
    trend: (Number.isFinite(p50) ? p50 : obs.demand) / Math.max(obs.demand, floor),
    throttled: recentlyThrottled,
    peakToMean: Number.isFinite(peakToMean) ? peakToMean : 1,
  };
}

/** The table index of a feature vector. */
export function stateOf(f: RlFeatures): number {
  let s = bin(f.spread, SPREAD_EDGES);
  s = s * (TREND_EDGES.length + 1) + bin(f.trend, TREND_EDGES);
  s = s * 2 + (f.throttled ? 1 : 0);
  s = s * (VOLATILITY_EDGES.length + 1) + bin(f.peakToMean, VOLATILITY_EDGES);
  return s;
}
