import { DAY_MS } from '../../lib/index.ts';
import type { SeriesView } from '../types.ts';

/**
 * Inputs of the LSTM for one (token, origin) pair, all read from slots
 * `<= origin` (no look-ahead):
 * - a sequence of the last `lookback` values, divided by the token's scale;
 * - multi-resolution means of the last `coarse[i]` slots (scaled);
 * - seasonal lags per horizon: the value one day and one week before the
 *   target slot (scaled; the latest value when the history is too short);
 * - calendar of the origin (time of day, day of week as sin/cos);
 * - log of the scale, so the model can tell sparse tokens from busy ones.
 * Per-token scaling: the scale is the mean of the last `scaleWindow` slots,
 * floored at a tenth of the token's long-run mean (from training data).
 * Targets are residuals on the last value, `(values[o + h] - values[o]) / scale`,
 * so an untrained head starts from the naive forecast (residual learning).
 */
export interface FeatureSpec {
  lookback: number;
  horizons: readonly number[];
  daySteps: number;
  weekSteps: number;
  scaleWindow: number;
  coarse: readonly number[];
}

/** Width of the static (non-sequence) input. */
export function staticWidth(spec: FeatureSpec): number {
  return spec.coarse.length + 2 * spec.horizons.length + 5;
}

/** Slots of history an origin needs before it can be featurised. */
export function minHistory(spec: FeatureSpec): number {
  return Math.max(spec.lookback, 2);
}

/** A batch of inputs in flat Float32 arrays (row-major), ready for tensors. */
export interface FeatureBatch {
  n: number;
  seq: Float32Array;
  stat: Float32Array;
  scale: Float32Array;
  /** The last value at each origin: forecasts are `anchor + output * scale`. */
  anchor: Float32Array;
  /** `n * horizons` scaled targets, when asked for. */
  target?: Float32Array;
}

function prefixSums(v: Float64Array): Float64Array {
  const c = new Float64Array(v.length + 1);
  for (let i = 0; i < v.length; i++) c[i + 1] = c[i]! + Math.abs(v[i]!);
  return c;
}

/** Mean of |v| over the last `w` slots ending at `o` (inclusive). */
function windowMean(c: Float64Array, o: number, w: number): number {
  const lo = Math.max(0, o - w + 1);
  return (c[o + 1]! - c[lo]!) / (o + 1 - lo);
}

function lag(v: Float64Array, o: number, h: number, m: number): number {
  if (m < 1) return v[o]!;
  const idx = o + h - Math.ceil(h / m) * m;
  return idx >= 0 ? v[idx]! : v[o]!;
}

/**
 * Builds features for `origins[i]` of token `tokens[i]`. `floors[k]` is the
 * scale floor of token k. With `withTargets`, also the scaled targets
 * residuals (the caller guarantees `o + max(h)` is known).
 */
export function buildFeatures(
  spec: FeatureSpec,
  data: readonly SeriesView[],
  tokens: Int32Array,
  origins: Int32Array,
  floors: readonly number[],
  withTargets: boolean,
): FeatureBatch {
  const n = origins.length;
  const L = spec.lookback;
  const S = staticWidth(spec);
  const H = spec.horizons.length;
  const seq = new Float32Array(n * L);
  const stat = new Float32Array(n * S);
  const scale = new Float32Array(n);
  const anchor = new Float32Array(n);
  const target = withTargets ? new Float32Array(n * H) : undefined;
  const sums = new Map<number, Float64Array>();
  for (let i = 0; i < n; i++) {
    const k = tokens[i]!;
    const o = origins[i]!;
    const v = data[k]!.values;
    let c = sums.get(k);
    if (!c) {
      c = prefixSums(v);
      sums.set(k, c);
    }
    const s = Math.max(windowMean(c, o, spec.scaleWindow), floors[k] ?? 0, 1e-6);
    scale[i] = s;
    anchor[i] = v[o]!;
    for (let j = 0; j < L; j++) {
      const idx = o - L + 1 + j;
      seq[i * L + j] = (idx >= 0 ? v[idx]! : v[0]!) / s;
    }
    let p = i * S;
    for (const w of spec.coarse) stat[p++] = windowMean(c, o, w) / s;
    for (const h of spec.horizons) {
      stat[p++] = lag(v, o, h, spec.daySteps) / s;
      stat[p++] = lag(v, o, h, spec.weekSteps) / s;
    }
    const t = data[k]!.timestamps[o]!;
    const day = ((t % DAY_MS) + DAY_MS) % DAY_MS;
    const dow = Math.floor(t / DAY_MS + 4) % 7; // 1970-01-01 was a Thursday
    stat[p++] = Math.sin((2 * Math.PI * day) / DAY_MS);
    stat[p++] = Math.cos((2 * Math.PI * day) / DAY_MS);
    stat[p++] = Math.sin((2 * Math.PI * dow) / 7);
    stat[p++] = Math.cos((2 * Math.PI * dow) / 7);
    stat[p] = Math.log1p(s) / 10;
    if (target) spec.horizons.forEach((h, hi) => (target[i * H + hi] = (v[o + h]! - v[o]!) / s));
  }
  const batch: FeatureBatch = { n, seq, stat, scale, anchor };
  if (target) batch.target = target;
  return batch;
}
