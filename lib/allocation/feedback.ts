import type { PoolWants } from './policy.ts';

/** Forecast quality at one horizon, over the recent past. */
export interface HorizonFeedback {
  horizon: number;
  /** Outcomes compared so far. */
  count: number;
  /** Exponentially weighted mean absolute error of the p50. */
  mae: number;
  /** Exponentially weighted mean of the actual (the scale for `mae`). */
  level: number;
  /** Exponentially weighted share of outcomes at or below the p90 (0.9 when calibrated). */
  coverage90: number;
}

/**
 * The feedback loop's bookkeeping: keeps the forecasts made at each step and,
 * once the demand of a step is known, compares it with every forecast that
 * targeted it. The errors feed the trainer's retraining trigger (a rising
 * `mae / level`, or `coverage90` far from 0.9) and are reported with the
 * pool's decisions.
 */
export class ForecastFeedback {
  readonly #alpha: number;
  readonly #made = new Map<number, PoolWants>();
  #stats: HorizonFeedback[] = [];

  /** `alpha`: weight of the newest outcome in the running means. */
  constructor(alpha = 0.02) {
    this.#alpha = alpha;
  }

  /** Records the forecast made at the end of `step` (origin `step`). */
  record(step: number, wants: PoolWants): void {
    this.#made.set(step, wants);
    if (this.#stats.length !== wants.horizons.length)
      this.#stats = wants.horizons.map((horizon) => ({ horizon, count: 0, mae: 0, level: 0, coverage90: 0 }));
    const oldest = step - Math.max(...wants.horizons);
    for (const k of this.#made.keys()) if (k < oldest) this.#made.delete(k);
  }

  /** The demand of `step` is known: scores every forecast that targeted it. */
  observe(step: number, actual: number): void {
    for (const s of this.#stats) {
      const w = this.#made.get(step - s.horizon);
      if (!w) continue;
      const i = w.horizons.indexOf(s.horizon);
      const p50 = w.p50[i]!;
      if (!Number.isFinite(p50)) continue;
      const p90 = w.p90[i]!;
      const a = s.count === 0 ? 1 : Math.max(this.#alpha, 1 / (s.count + 1));
      s.mae += a * (Math.abs(actual - p50) - s.mae);
      s.level += a * (Math.abs(actual) - s.level);
      s.coverage90 +=
        a * ((Number.isFinite(p90) ? (actual <= p90 ? 1 : 0) : actual <= p50 ? 1 : 0) - s.coverage90);
      s.count++;
    }
  }

  /** Current figures per horizon. */
  snapshot(): HorizonFeedback[] {
    return this.#stats.map((s) => ({ ...s }));
  }
}
