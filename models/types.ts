/**
 * Shared shapes of the forecasting models. A model sees one or more tokens'
 * series on a common regular grid and forecasts quantiles at fixed horizons
 * (in grid steps) for a range of forecast origins.
 */

/** One token's known history: `values[i]` is demand in slot i, `timestamps[i]` its start (ms, UTC). */
export interface SeriesView {
  values: Float64Array;
  timestamps: Float64Array;
}

/** Quantile forecasts for one token: `p50[h][j]` is the median for horizon index h at origin `from + j`. */
export interface QuantileForecast {
  p10: Float64Array[];
  p50: Float64Array[];
  p90: Float64Array[];
}

/**
 * A forecasting model under rolling-origin evaluation.
 *
 * Contract (no look-ahead): `fit(data)` sees only the past (the caller passes
 * series truncated at the training cut); in `predict`, the forecast for
 * origin `o` may read `values[0..o]` only, never later slots, even though the
 * view passed in reaches to the last origin of the block.
 */
export interface Forecaster {
  readonly name: string;
  /** Horizons in grid steps, fixed at construction. */
  readonly horizons: readonly number[];
  /** (Re)trains on the given histories (one per token). */
  fit(data: readonly SeriesView[]): Promise<void>;
  /** Forecasts origins `from..to-1` of every token. p10/p90 may be NaN for point models. */
  predict(data: readonly SeriesView[], from: number, to: number): Promise<QuantileForecast[]>;
}

/** Empty (NaN) forecast arrays for `len` origins and `nh` horizons. */
export function emptyForecast(nh: number, len: number): QuantileForecast {
  const mk = (): Float64Array[] => Array.from({ length: nh }, () => new Float64Array(len).fill(Number.NaN));
  return { p10: mk(), p50: mk(), p90: mk() };
}
