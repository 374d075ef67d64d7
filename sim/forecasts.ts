import { InputError, ErrorCode, show } from '../lib/index.ts';
import type { Trace } from '../lib/index.ts';
import {
  BaselineName,
  ModelName,
  MODEL_NAMES,
  buildMembers,
  createBayesForecaster,
  createLstmForecaster,
  liveForecasts,
  makeBaseline,
  rollingForecast,
} from '../models/index.ts';
import type { LstmForecaster, QuantileForecast } from '../models/index.ts';

/** The served forecaster: the live zoo a node serves every token (models/live). */
export const LIVE_FORECASTER = 'live';

/**
 * Forecasters the replay accepts: the served forecaster (the default), a
 * baseline (fast) or the offline hybrid of every model.
 */
export const REPLAY_FORECASTERS: readonly string[] = [
  LIVE_FORECASTER,
  ...Object.values(BaselineName),
  ModelName.Hybrid,
];

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
  const name = options.forecaster ?? LIVE_FORECASTER;
  if (!REPLAY_FORECASTERS.includes(name))
    throw new InputError(
      ErrorCode.InvalidOptions,
      `--forecaster must be one of ${REPLAY_FORECASTERS.join(', ')}, got ${show(name)}`,
      { field: '--forecaster', value: name },
    );
  if (name === LIVE_FORECASTER) return liveTrack(trace, options.horizons, options.warmup);
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

/**
 * The live zoo's forecasts, as a node serves them: its statistical members
 * and the Bayesian network fitted on the warm-up, combined online per token
 * and horizon. The pretrained LSTM is left out: it is made for a node's
 * 1 s grid and horizons, never those of a replay's lead, and on another grid
 * a node serves without an LSTM until its trainer has fitted one. Forecasts
 * start where the other forecasters' validation stretch does, so RL
 * pretraining sees the same span whatever the forecaster.
 */
async function liveTrack(trace: Trace, horizons: readonly number[], warmup: number): Promise<ForecastTrack> {
  const views = trace.values.map((values) => ({ values, timestamps: trace.timestamps }));
  const bayes = createBayesForecaster({ horizons });
  await bayes.fit(
    views.map((v) => ({
      values: v.values.subarray(0, warmup),
      timestamps: v.timestamps.subarray(0, warmup),
    })),
  );
  const validation = Math.max(50, Math.min(10_000, Math.floor(0.4 * warmup)));
  const runFrom = Math.max(Math.min(24, warmup), warmup - validation - Math.max(...horizons));
  const perToken = await liveForecasts(views, { horizons, stepMs: trace.intervalMs, from: runFrom, bayes });
  return { name: LIVE_FORECASTER, horizons, runFrom, perToken };
}
