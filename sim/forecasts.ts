import { InputError, ErrorCode, show } from '../lib/index.ts';
import type { Trace } from '../lib/index.ts';
import {
  BaselineName,
  ModelName,
  MODEL_NAMES,
  buildMembers,
  createBayesForecaster,
  createLstmForecaster,
  makeBaseline,
  rollingForecast,
} from '../models/index.ts';
import type { LstmForecaster, QuantileForecast } from '../models/index.ts';

/** Forecasters the replay accepts: a baseline (fast) or the hybrid of every model. */
export const REPLAY_FORECASTERS: readonly string[] = [...Object.values(BaselineName), ModelName.Hybrid];

/** Rolling-origin forecasts of every token of a trace, for origins `runFrom..n-1`. */
export interface ForecastTrack {
  name: string;
  horizons: readonly number[];
  runFrom: number;
  /** Per token; index `origin - runFrom`. */
  perToken: QuantileForecast[];
}

/**
 * Forecasts every origin from `warmup` on (and the validation stretch just
 * before it) with no look-ahead, through the models' `Forecaster` interface
 * and `rollingForecast`: each origin reads its own past only, and intervals
 * are calibrated on earlier origins whose outcome is known.
 */
export async function forecastTrace(
  trace: Trace,
  options: { horizons: readonly number[]; warmup: number; forecaster?: string },
): Promise<ForecastTrack> {
  const name = options.forecaster ?? BaselineName.Ewma;
  if (!REPLAY_FORECASTERS.includes(name))
    throw new InputError(
      ErrorCode.InvalidOptions,
      `--forecaster must be one of ${REPLAY_FORECASTERS.join(', ')}, got ${show(name)}`,
      { field: '--forecaster', value: name },
    );
  const n = trace.timestamps.length;
  const hybrid = name === ModelName.Hybrid;
  const hs = options.horizons;
  let lstm: LstmForecaster | undefined;
  const members = hybrid
    ? await buildMembers(MODEL_NAMES, {
        horizons: hs,
        intervalMs: trace.intervalMs,
        lstm: async () => (lstm = await createLstmForecaster({ horizons: [...hs] })),
        bayes: async () => createBayesForecaster({ horizons: hs }),
      })
    : [makeBaseline(name as BaselineName, hs, trace.intervalMs)];
  try {
    const r = await rollingForecast(members, trace.values, trace.timestamps, {
      horizons: hs,
      scoreFrom: options.warmup,
      scoreTo: n - 1,
      hybrid,
    });
    return { name, horizons: hs, runFrom: r.runFrom, perToken: r.forecasts.get(name)! };
  } finally {
    (lstm as LstmForecaster | undefined)?.dispose();
  }
}
