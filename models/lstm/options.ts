import {
  invalidField,
  mergeOptions,
  optOneOf,
  optPositiveInt,
  optionsError,
  unknownKeysFirst,
} from '../../lib/index.ts';
import type { OptionParser, OptionSchema } from '../../lib/index.ts';
import type { TfBackendName } from '../backend.ts';

/** Settings of the LSTM forecaster. */
export interface LstmOptions {
  /** Horizons in grid steps. */
  horizons: readonly number[];
  /** TensorFlow.js backend. @default 'wasm' */
  backend: TfBackendName;
  /** Recent slots fed to the LSTM; longer context comes from the multi-resolution means. @default 16 */
  lookback: number;
  /** LSTM units. @default 24 */
  units: number;
  /** Dense units of the head. @default 32 */
  hidden: number;
  /** Window means fed as multi-resolution inputs, in slots. @default [4, 16, 64, 256] */
  coarse: readonly number[];
  /** Slots in the per-token scale (mean of the recent values). @default 48 */
  scaleWindow: number;
  /** Most training samples per fit, over all tokens. @default 6000 */
  maxSamples: number;
  /** Share of training samples taken from the most recent origins (the rest from all history). @default 0.5 */
  recentShare: number;
  /** Epochs of the first training. @default 8 */
  initialEpochs: number;
  /** Epochs of each refresh (warm start from the current weights). @default 2 */
  refreshEpochs: number;
  /** Refresh on every n-th `fit` call after the first. @default 4 */
  refreshEvery: number;
  /** @default 0.003 */
  learningRate: number;
  /** @default 256 */
  batchSize: number;
  /** Seed of the weight initialisers and the sample draw. @default 7 */
  seed: number;
}

/** A fresh copy of the defaults (horizons 1, 6, 12 steps). */
export function defaultLstmOptions(): LstmOptions {
  return {
    horizons: [1, 6, 12],
    backend: 'wasm',
    lookback: 16,
    units: 24,
    hidden: 32,
    coarse: [4, 16, 64, 256],
    scaleWindow: 48,
    maxSamples: 6000,
    recentShare: 0.5,
    initialEpochs: 8,
    refreshEpochs: 2,
    refreshEvery: 4,
    learningRate: 0.003,
    batchSize: 256,
    seed: 7,
  };
}

const nonNegativeInt: OptionParser<number> = (v, field) => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw invalidField(field, 'a non-negative integer', v);
  return v;
};

const isPositiveInt = (x: unknown): boolean => Number.isSafeInteger(x) && (x as number) > 0;

/** A frozen copy of a list of positive integers, empty allowed unless `nonEmpty`. */
function positiveInts(nonEmpty: boolean): OptionParser<readonly number[]> {
  const expected = nonEmpty ? 'a non-empty list of positive integers' : 'a list of positive integers';
  return (v, field) => {
    if (!Array.isArray(v) || (nonEmpty && v.length === 0) || !v.every(isPositiveInt))
      throw invalidField(field, expected, v);
    return Object.freeze([...(v as number[])]);
  };
}

/** A number in [lo, hi], or in (lo, hi) when `open`. */
function numberIn(lo: number, hi: number, open: boolean): OptionParser<number> {
  return (v, field) => {
    const ok = typeof v === 'number' && (open ? v > lo && v < hi : v >= lo && v <= hi);
    if (!ok) throw invalidField(field, `a number in ${open ? `(${lo}, ${hi})` : `[${lo}, ${hi}]`}`, v);
    return v;
  };
}

const SCHEMA: OptionSchema<LstmOptions> = {
  horizons: positiveInts(true),
  backend: optOneOf(['wasm', 'cpu', 'tensorflow']),
  lookback: optPositiveInt,
  units: optPositiveInt,
  hidden: optPositiveInt,
  coarse: positiveInts(false),
  scaleWindow: optPositiveInt,
  maxSamples: optPositiveInt,
  recentShare: numberIn(0, 1, false),
  initialEpochs: nonNegativeInt,
  refreshEpochs: nonNegativeInt,
  refreshEvery: optPositiveInt,
  learningRate: numberIn(0, 1, true),
  batchSize: optPositiveInt,
  seed: nonNegativeInt,
};

/**
 * Compiles options with lib/options.ts: rejects unknown keys (named first)
 * and bad values, reporting every problem in one InputError (code
 * InvalidOptions), and returns a frozen, complete object.
 */
export function compileLstmOptions(input: Partial<LstmOptions> = {}): Readonly<LstmOptions> {
  const { values, problems } = mergeOptions('lstm', SCHEMA, defaultLstmOptions(), [
    input as Record<string, unknown>,
  ]);
  if (problems.length > 0) throw optionsError(unknownKeysFirst('lstm', SCHEMA, problems));
  const o = values as unknown as LstmOptions;
  return Object.freeze({
    ...o,
    horizons: Object.freeze([...o.horizons]),
    coarse: Object.freeze([...o.coarse]),
  });
}
