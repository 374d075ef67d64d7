/** Small synthetic series, LSTM settings and trainer set-up for the forecasting service tests. */
import { join } from 'node:path';
import { SystemClock } from '../../lib/index.ts';
import { ForecastHub, Trainer } from '../../services/index.ts';
import type { PredictParams, PredictReply, TrainerDeps, TrainingData } from '../../services/index.ts';

/** A tiny, fast LSTM (seconds to train on a few hundred slots). */
export const TINY_LSTM = {
  lookback: 8,
  units: 4,
  hidden: 8,
  coarse: [4, 16],
  scaleWindow: 16,
  maxSamples: 600,
  initialEpochs: 6,
  refreshEpochs: 1,
  refreshEvery: 1,
  batchSize: 64,
  learningRate: 0.02,
};

/** A period-8 sawtooth-like pattern with slight per-token phase and level: the LSTM learns it, naive baselines cannot. */
export function patterned(tokens: number, n: number): Float64Array[] {
  const shape = [2, 5, 9, 14, 20, 12, 6, 3];
  return Array.from({ length: tokens }, (_t, k) =>
    Float64Array.from(
      { length: n },
      (_v, i) => (1 + 0.2 * k) * shape[(i + k) % 8]! + ((i * 7 + k) % 3) * 0.1,
    ),
  );
}

/** 1 s grid timestamps. */
export function grid(n: number, startMs = Date.UTC(2026, 0, 5, 12)): Float64Array {
  return Float64Array.from({ length: n }, (_v, i) => startMs + i * 1000);
}

/** The trainer tests' hub: horizons 1 s and 3 s on a 1 s step, its registry under `dir`/models. */
export function tinyHub(dir: string): ForecastHub {
  return new ForecastHub(
    { horizonsMs: [1000, 3000], stepMs: 1000, backend: 'wasm', registryDir: join(dir, 'models') },
    new SystemClock(),
  );
}

/** A trainer of the tiny LSTM on whatever `data()` returns when it runs; it trains only when asked. */
export function tinyTrainer(
  hub: ForecastHub,
  data: () => TrainingData,
  extra: Partial<Pick<TrainerDeps, 'emit' | 'log'>> = {},
): Trainer {
  return new Trainer({
    hub,
    clock: new SystemClock(),
    source: () => Promise.resolve(data()),
    options: { everyMs: 0, lstm: TINY_LSTM, driftFactor: 1.5, driftGapMs: 60_000, progressBar: false },
    ...extra,
  });
}

/**
 * Noise to train on and a smooth slow wave in the held-back last quarter: naive forecasting wins there, so a
 * candidate trained on it is rejected.
 */
export function noiseThenWave(n: number, tokens = 3): TrainingData {
  let s = 7;
  const noise = (): number => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 100;
  const series = Array.from({ length: tokens }, () =>
    Float64Array.from({ length: n }, (_v, i) => (i < n * 0.75 ? noise() : 50 + 20 * Math.sin(i / 40))),
  );
  return { series, timestamps: grid(n), stepMs: 1000 };
}

/** A predict reply of fixed forecasts for `p`'s tokens (p50 2 a second at 1 s and 5 s): a fake hub's. */
export function meanReply(p: PredictParams, madeMs: number): PredictReply {
  return {
    version: null,
    madeMs,
    horizonsMs: [1000, 5000],
    forecasts: p.items.map((it) => ({
      token: it.token,
      source: 'mean',
      p10: [1, 1],
      p50: [2, 2],
      p90: [3, 3],
    })),
  };
}
