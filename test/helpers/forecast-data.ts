/** Small synthetic series and LSTM settings for the forecasting service tests. */

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
