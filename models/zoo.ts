import type { Forecaster } from './types.ts';
import { BaselineName, makeBaseline } from './baselines/index.ts';
import { LstmForecaster } from './lstm/index.ts';
import type { LstmOptions } from './lstm/index.ts';
import { BayesForecaster } from './bayes/index.ts';
import type { BayesForecasterOptions } from './bayes/index.ts';

/** Every model name the `forecast` command knows, in report order. */
export const ModelName = {
  Hybrid: 'hybrid',
  Lstm: 'lstm',
  Bayes: 'bayes',
  ...BaselineName,
} as const;
export type ModelName = (typeof ModelName)[keyof typeof ModelName];

/** All names, in report order. */
export const MODEL_NAMES: readonly ModelName[] = Object.values(ModelName);

/** Options for building the member models of a run. */
export interface ZooOptions {
  horizons: readonly number[];
  intervalMs: number;
  /** Builds the LSTM member (injected so that the zoo does not load TensorFlow.js unless asked). */
  lstm?: () => Promise<Forecaster>;
  /** Builds the Bayesian-network member. */
  bayes?: () => Promise<Forecaster>;
}

/**
 * The member forecasters a run needs for the requested names: the hybrid
 * needs every member, so asking for it brings them all in.
 */
export async function buildMembers(requested: readonly ModelName[], o: ZooOptions): Promise<Forecaster[]> {
  const want = new Set<ModelName>(requested.includes(ModelName.Hybrid) ? MODEL_NAMES : requested);
  const out: Forecaster[] = [];
  if (want.has(ModelName.Lstm) && o.lstm) out.push(await o.lstm());
  if (want.has(ModelName.Bayes) && o.bayes) out.push(await o.bayes());
  for (const b of Object.values(BaselineName))
    if (want.has(b)) out.push(makeBaseline(b, o.horizons, o.intervalMs));
  return out;
}

/** Builds the Bayesian-network forecaster. */
export function createBayesForecaster(
  options: Partial<BayesForecasterOptions> & { horizons: readonly number[] },
): BayesForecaster {
  return new BayesForecaster(options);
}

/** Builds the LSTM forecaster (options checked; backend chosen at first fit). */
export async function createLstmForecaster(options: Partial<LstmOptions> = {}): Promise<LstmForecaster> {
  return new LstmForecaster(options);
}
