/**
 * Forecast accuracy metrics, accumulated one observation at a time so that a
 * long evaluation never holds all errors in memory.
 */

/** The figures reported per model and horizon. */
export interface ForecastMetrics {
  /** Sum of absolute p50 errors over the sum of absolute actuals. */
  wape: number;
  /** Mean absolute p50 error. */
  mae: number;
  /** Mean of 2|y - f| / (|y| + |f|); a pair of zeros counts as 0. */
  smape: number;
  /** MAE over the in-sample mean absolute one-step naive change (Hyndman & Koehler 2006). */
  mase: number;
  /** Mean pinball loss over the p10, p50 and p90 quantiles. */
  pinball: number;
  /** Share of actuals inside [p10, p90]. */
  coverage80: number;
  /** Number of scored forecasts. */
  n: number;
}

/** Running sums behind {@link ForecastMetrics}. */
export interface MetricsAccumulator {
  n: number;
  absErr: number;
  absActual: number;
  smape: number;
  pinball: number;
  covered: number;
}

/** A fresh, empty accumulator. */
export function newAccumulator(): MetricsAccumulator {
  return { n: 0, absErr: 0, absActual: 0, smape: 0, pinball: 0, covered: 0 };
}

/** Pinball (quantile) loss of forecast `q` for quantile level `tau` at actual `y`. */
export function pinballLoss(y: number, q: number, tau: number): number {
  const d = y - q;
  return d >= 0 ? tau * d : (tau - 1) * d;
}

/** Adds one scored forecast. */
export function addObservation(
  acc: MetricsAccumulator,
  y: number,
  p10: number,
  p50: number,
  p90: number,
): void {
  const e = Math.abs(y - p50);
  acc.n++;
  acc.absErr += e;
  acc.absActual += Math.abs(y);
  const den = Math.abs(y) + Math.abs(p50);
  acc.smape += den === 0 ? 0 : (2 * e) / den;
  acc.pinball += (pinballLoss(y, p10, 0.1) + pinballLoss(y, p50, 0.5) + pinballLoss(y, p90, 0.9)) / 3;
  if (y >= p10 && y <= p90) acc.covered++;
}

/** Merges `b` into `a` (e.g. tokens of a long trace). */
export function mergeAccumulators(a: MetricsAccumulator, b: MetricsAccumulator): MetricsAccumulator {
  return {
    n: a.n + b.n,
    absErr: a.absErr + b.absErr,
    absActual: a.absActual + b.absActual,
    smape: a.smape + b.smape,
    pinball: a.pinball + b.pinball,
    covered: a.covered + b.covered,
  };
}

/** Mean absolute one-step change of `values[start..end)`: the MASE scale. */
export function naiveScale(values: Float64Array, start = 0, end = values.length): number {
  let s = 0;
  let n = 0;
  for (let i = Math.max(start, 0) + 1; i < end; i++) {
    s += Math.abs(values[i]! - values[i - 1]!);
    n++;
  }
  return n === 0 ? Number.NaN : s / n;
}

/** Turns running sums into metrics; `scale` is the MASE denominator. */
export function finishMetrics(acc: MetricsAccumulator, scale: number): ForecastMetrics {
  const n = acc.n;
  const mae = n ? acc.absErr / n : Number.NaN;
  return {
    wape: acc.absActual > 0 ? acc.absErr / acc.absActual : Number.NaN,
    mae,
    smape: n ? acc.smape / n : Number.NaN,
    mase: scale > 0 ? mae / scale : Number.NaN,
    pinball: n ? acc.pinball / n : Number.NaN,
    coverage80: n ? acc.covered / n : Number.NaN,
    n,
  };
}
