// Entry file of models/baselines: the bar every model must clear.
import { DAY_MS } from '../../lib/index.ts';
import { PerTokenForecaster } from './point-model.ts';
import { NaiveModel, SeasonalNaiveModel, EwmaModel } from './simple.ts';
import { HoltWintersModel } from './holt-winters.ts';
import type { Forecaster } from '../types.ts';

export { PerTokenForecaster, nonNegative } from './point-model.ts';
export { NaiveModel, SeasonalNaiveModel, EwmaModel } from './simple.ts';
export { HoltWintersModel } from './holt-winters.ts';

/** Names of the baselines, as the CLI spells them. */
export const BaselineName = {
  Naive: 'naive',
  SeasonalDay: 'seasonal-day',
  SeasonalWeek: 'seasonal-week',
  Ewma: 'ewma',
  HoltWinters: 'holt-winters',
} as const;
export type BaselineName = (typeof BaselineName)[keyof typeof BaselineName];

/** Builds a baseline forecaster for a grid of `intervalMs` (seasons are a day and a week of slots). */
export function makeBaseline(
  name: BaselineName,
  horizons: readonly number[],
  intervalMs: number,
): Forecaster {
  const day = DAY_MS / intervalMs;
  switch (name) {
    case BaselineName.Naive:
      return new PerTokenForecaster(name, horizons, () => new NaiveModel());
    case BaselineName.SeasonalDay:
      return new PerTokenForecaster(name, horizons, () => new SeasonalNaiveModel(day));
    case BaselineName.SeasonalWeek:
      return new PerTokenForecaster(name, horizons, () => new SeasonalNaiveModel(7 * day));
    case BaselineName.Ewma:
      return new PerTokenForecaster(name, horizons, () => new EwmaModel());
    case BaselineName.HoltWinters:
      return new PerTokenForecaster(name, horizons, () => new HoltWintersModel(day));
  }
}

export type { PointModel } from './point-model.ts';
export type { HoltWintersParams } from './holt-winters.ts';
