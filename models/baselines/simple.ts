import type { SeriesView } from '../types.ts';
import type { PointModel } from './point-model.ts';

/** Naive: the last known value, at every horizon. */
export class NaiveModel implements PointModel {
  fit(): void {}
  point(view: SeriesView, from: number, to: number, horizons: readonly number[]): Float64Array[] {
    return horizons.map(() => view.values.slice(from, to));
  }
}

/**
 * Seasonal naive with period `periodSteps`: the value one (or more) periods
 * before the target slot. Falls back to naive while the history is shorter
 * than a period (e.g. a weekly period on a one-hour trace).
 */
export class SeasonalNaiveModel implements PointModel {
  readonly periodSteps: number;
  constructor(periodSteps: number) {
    this.periodSteps = Math.max(1, Math.round(periodSteps));
  }
  fit(): void {}
  point(view: SeriesView, from: number, to: number, horizons: readonly number[]): Float64Array[] {
    const m = this.periodSteps;
    const v = view.values;
    return horizons.map((h) => {
      const out = new Float64Array(to - from);
      const back = Math.ceil(h / m) * m;
      for (let o = from; o < to; o++) {
        const idx = o + h - back;
        out[o - from] = idx >= 0 ? v[idx]! : v[o]!;
      }
      return out;
    });
  }
}

const ALPHAS = [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9] as const;

/**
 * Exponentially weighted moving average. The smoothing factor is fitted per
 * horizon on the history (least absolute error of the h-step forecast over
 * the last `fitWindow` origins), so it is refitted at every retrain.
 */
export class EwmaModel implements PointModel {
  readonly fitWindow: number;
  alphas: number[] = [];
  constructor(fitWindow = 20_000) {
    this.fitWindow = fitWindow;
  }

  fit(history: SeriesView, horizons: readonly number[]): void {
    const v = history.values;
    const n = v.length;
    const start = Math.max(0, n - this.fitWindow);
    this.alphas = horizons.map((h) => {
      let best = 0.3;
      let bestErr = Infinity;
      for (const a of ALPHAS) {
        let level = v[start] ?? 0;
        let err = 0;
        for (let o = start; o + h < n; o++) {
          level = a * v[o]! + (1 - a) * level;
          err += Math.abs(v[o + h]! - level);
        }
        if (err < bestErr) {
          bestErr = err;
          best = a;
        }
      }
      return best;
    });
  }

  point(view: SeriesView, from: number, to: number, horizons: readonly number[]): Float64Array[] {
    const v = view.values;
    return horizons.map((_h, hi) => {
      const a = this.alphas[hi] ?? 0.3;
      // (1-a)^burn is negligible for a >= 0.02 and burn = 2000.
      const s = Math.max(0, from - 2000);
      let level = v[s]!;
      for (let i = s; i < from; i++) level = a * v[i]! + (1 - a) * level;
      const out = new Float64Array(to - from);
      for (let o = from; o < to; o++) {
        level = a * v[o]! + (1 - a) * level;
        out[o - from] = level;
      }
      return out;
    });
  }
}
