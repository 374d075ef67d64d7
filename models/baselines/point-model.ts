import type { Forecaster, QuantileForecast, SeriesView } from '../types.ts';
import { emptyForecast } from '../types.ts';

/**
 * A per-token point forecaster: the baselines. `point` returns, for each
 * horizon index, the p50 forecast of origins `from..to-1`; origin o reads
 * `values[0..o]` only.
 */
export interface PointModel {
  fit(history: SeriesView, horizons: readonly number[]): void;
  point(view: SeriesView, from: number, to: number, horizons: readonly number[]): Float64Array[];
}

/**
 * Runs one {@link PointModel} per token. p10/p90 are left NaN: the rolling
 * evaluator fills them from the model's own past residuals (see
 * `residualQuantiles`).
 */
export class PerTokenForecaster implements Forecaster {
  readonly name: string;
  readonly horizons: readonly number[];
  readonly #make: () => PointModel;
  #models: PointModel[] = [];

  constructor(name: string, horizons: readonly number[], make: () => PointModel) {
    this.name = name;
    this.horizons = horizons;
    this.#make = make;
  }

  async fit(data: readonly SeriesView[]): Promise<void> {
    while (this.#models.length < data.length) this.#models.push(this.#make());
    data.forEach((d, k) => this.#models[k]!.fit(d, this.horizons));
  }

  async predict(data: readonly SeriesView[], from: number, to: number): Promise<QuantileForecast[]> {
    while (this.#models.length < data.length) this.#models.push(this.#make());
    return data.map((d, k) => {
      const f = emptyForecast(this.horizons.length, to - from);
      f.p50 = this.#models[k]!.point(d, from, to, this.horizons);
      return f;
    });
  }
}

/** True when no known value is negative (counts): forecasts are then clipped at 0. */
export function nonNegative(values: Float64Array, end = values.length): boolean {
  for (let i = 0; i < end; i++) if (values[i]! < 0) return false;
  return true;
}
