import type { PolicyObservation } from '../../lib/index.ts';

/**
 * The RL state: a few coarse, scale-free features, so that one table fits
 * any trace (demand is measured in units of capacity, spread and trend as
 * ratios). Bins were set once from first principles, not fitted to a trace.
 */
const SPREAD_EDGES = [0.05, 0.1, 0.2, 0.4];
const TREND_EDGES = [0.9, 1.1];
const UTIL_EDGES = [0.6, 0.9];
const SCALE_EDGES = [3, 15];
const TOD_BINS = 4;

function bin(x: number, edges: readonly number[]): number {
  let i = 0;
  while (i < edges.length && x >= edges[i]!) i++;
  return i;
}

/** Number of distinct states {@link stateOf} returns. */
export const STATE_COUNT =
  (SPREAD_EDGES.length + 1) *
  (TREND_EDGES.length + 1) *
  2 *
  (UTIL_EDGES.length + 1) *
  TOD_BINS *
  (SCALE_EDGES.length + 1);

/** Named features, for inspection and tests. */
export interface RlFeatures {
  /** (p90 - p50) / p50 of the forecast at the lead horizon. */
  spread: number;
  /** p50 at the lead horizon / demand of the step just ended. */
  trend: number;
  /** Any throttling in the recent window. */
  throttled: boolean;
  /** Served / ready capacity of the step just ended. */
  utilization: number;
  /** Hour of day (UTC) / 6, floored. */
  timeOfDay: number;
  /** Forecast median in units of capacity. */
  scale: number;
}

/** Reads the features from an observation (the last horizon is the lead horizon). */
export function featuresOf(obs: PolicyObservation, recentlyThrottled: boolean): RlFeatures {
  const c = obs.unitCapacity;
  const last = obs.wants.horizons.length - 1;
  const p50 = Math.max(0, obs.wants.p50[last] ?? obs.demand);
  const p90 = obs.wants.p90[last] ?? p50;
  const floor = 0.1 * c;
  return {
    spread: Number.isFinite(p90) && Number.isFinite(p50) ? Math.max(0, p90 - p50) / Math.max(p50, floor) : 0,
    trend: (Number.isFinite(p50) ? p50 : obs.demand) / Math.max(obs.demand, floor),
    throttled: recentlyThrottled,
    utilization: obs.readyUnits > 0 ? obs.served / (obs.readyUnits * c) : 1,
    timeOfDay: Math.floor(new Date(obs.nowMs).getUTCHours() / 6),
    scale: (Number.isFinite(p50) ? p50 : obs.demand) / c,
  };
}

/** The table index of a feature vector. */
export function stateOf(f: RlFeatures): number {
  let s = bin(f.spread, SPREAD_EDGES);
  s = s * (TREND_EDGES.length + 1) + bin(f.trend, TREND_EDGES);
  s = s * 2 + (f.throttled ? 1 : 0);
  s = s * (UTIL_EDGES.length + 1) + bin(f.utilization, UTIL_EDGES);
  s = s * TOD_BINS + Math.min(TOD_BINS - 1, Math.max(0, f.timeOfDay));
  s = s * (SCALE_EDGES.length + 1) + bin(f.scale, SCALE_EDGES);
  return s;
}
