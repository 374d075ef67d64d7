import type { SeriesView } from '../types.ts';
import type { PointModel } from './point-model.ts';
import { nonNegative } from './point-model.ts';

/** Smoothing parameters of additive Holt-Winters with a damped trend. */
export interface HoltWintersParams {
  alpha: number;
  beta: number;
  gamma: number;
  /** Trend damping. @default 0.98 */
  phi: number;
}

const GRID: HoltWintersParams[] = [];
for (const alpha of [0.05, 0.2, 0.5, 0.8]) {
  for (const beta of [0, 0.02])
    for (const gamma of [0.05, 0.25]) GRID.push({ alpha, beta, gamma, phi: 0.98 });
}

/**
 * Additive Holt-Winters (level, damped trend, one seasonal period) after
 * Hyndman & Athanasopoulos, "Forecasting: Principles and Practice", 8.3.
 * Without two full periods of history it runs as damped Holt (no season).
 * Parameters are fitted at `fit` by a small grid search minimising the mean
 * absolute error over all horizons on the recent history.
 */
export class HoltWintersModel implements PointModel {
  readonly periodSteps: number;
  params: HoltWintersParams = { alpha: 0.5, beta: 0, gamma: 0.05, phi: 0.98 };

  constructor(periodSteps: number) {
    this.periodSteps = Math.max(0, Math.round(periodSteps));
  }

  fit(history: SeriesView, horizons: readonly number[]): void {
    const n = history.values.length;
    const m = this.#season(n);
    const start = Math.max(0, n - Math.max(3 * m, 3000) - Math.max(...horizons));
    const firstOrigin = start + Math.max(2 * m, 10);
    if (firstOrigin >= n - 1) return;
    let best = Infinity;
    for (const p of GRID) {
      if (m === 0 && p.gamma !== GRID[0]!.gamma) continue;
      const pts = this.#run(history.values, start, firstOrigin, n, horizons, p, m);
      let err = 0;
      horizons.forEach((h, hi) => {
        for (let o = firstOrigin; o + h < n; o++)
          err += Math.abs(history.values[o + h]! - pts[hi]![o - firstOrigin]!);
      });
      if (err < best) {
        best = err;
        this.params = p;
      }
    }
  }

  point(view: SeriesView, from: number, to: number, horizons: readonly number[]): Float64Array[] {
    const m = this.#season(from);
    const start = Math.max(0, from - Math.max(3 * m, 3000));
    const out = this.#run(view.values, start, from, to, horizons, this.params, m);
    if (nonNegative(view.values, from))
      for (const a of out) for (let i = 0; i < a.length; i++) if (a[i]! < 0) a[i] = 0;
    return out;
  }

  /** The season length usable with `n` slots of history (0 = none). */
  #season(n: number): number {
    const m = this.periodSteps;
    return m >= 2 && n >= 3 * m ? m : 0;
  }

  /** Runs the recursions from `start` and returns forecasts for origins from..to-1. */
  #run(
    v: Float64Array,
    start: number,
    from: number,
    to: number,
    horizons: readonly number[],
    p: HoltWintersParams,
    m: number,
  ): Float64Array[] {
    const { alpha, beta, gamma, phi } = p;
    const season = new Float64Array(Math.max(m, 1));
    let level = 0;
    let trend = 0;
    let i0: number;
    if (m > 0) {
      for (let i = 0; i < m; i++) level += v[start + i]!;
      level /= m;
      for (let i = 0; i < m; i++) season[(start + i) % m] = v[start + i]! - level;
      i0 = start + m;
    } else {
      level = v[start]!;
      i0 = start + 1;
    }
    // phiSum[h] = phi + phi^2 + ... + phi^h
    const maxH = Math.max(...horizons);
    const phiSum = new Float64Array(maxH + 1);
    for (let h = 1; h <= maxH; h++) phiSum[h] = phiSum[h - 1]! + phi ** h;
    const out = horizons.map(() => new Float64Array(Math.max(0, to - from)));
    for (let i = i0; i < to; i++) {
      const s = m > 0 ? season[i % m]! : 0;
      const prev = level;
      level = alpha * (v[i]! - s) + (1 - alpha) * (prev + phi * trend);
      trend = beta * (level - prev) + (1 - beta) * phi * trend;
      if (m > 0) season[i % m] = gamma * (v[i]! - level) + (1 - gamma) * s;
      if (i >= from) {
        horizons.forEach((h, hi) => {
          out[hi]![i - from] = level + phiSum[h]! * trend + (m > 0 ? season[(i + h) % m]! : 0);
        });
      }
    }
    return out;
  }
}
