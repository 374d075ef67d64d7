import { ErrorCode, InputError, show } from '../../lib/index.ts';
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

const POSITIVE_INTS = [
  'lookback',
  'units',
  'hidden',
  'scaleWindow',
  'maxSamples',
  'refreshEvery',
  'batchSize',
] as const;
const NON_NEGATIVE_INTS = ['initialEpochs', 'refreshEpochs', 'seed'] as const;

/**
 * Checks options: rejects unknown keys and bad values, reporting every
 * problem in one InputError, and returns a frozen, complete object.
 */
export function compileLstmOptions(input: Partial<LstmOptions> = {}): Readonly<LstmOptions> {
  const d = defaultLstmOptions();
  const problems: string[] = [];
  for (const key of Object.keys(input)) if (!(key in d)) problems.push(`lstm.${key} is not a known option`);
  const o = { ...d, ...input } as LstmOptions;
  const posInt = (x: unknown): boolean => Number.isSafeInteger(x) && (x as number) > 0;
  for (const k of POSITIVE_INTS)
    if (!posInt(o[k])) problems.push(`lstm.${k} must be a positive integer, got ${show(o[k])}`);
  for (const k of NON_NEGATIVE_INTS)
    if (!(Number.isSafeInteger(o[k]) && o[k] >= 0))
      problems.push(`lstm.${k} must be a non-negative integer, got ${show(o[k])}`);
  if (!Array.isArray(o.horizons) || o.horizons.length === 0 || !o.horizons.every(posInt))
    problems.push(`lstm.horizons must be a non-empty list of positive integers, got ${show(o.horizons)}`);
  if (!Array.isArray(o.coarse) || !o.coarse.every(posInt))
    problems.push(`lstm.coarse must be a list of positive integers, got ${show(o.coarse)}`);
  if (!(typeof o.recentShare === 'number' && o.recentShare >= 0 && o.recentShare <= 1))
    problems.push(`lstm.recentShare must be a number in [0, 1], got ${show(o.recentShare)}`);
  if (!(typeof o.learningRate === 'number' && o.learningRate > 0 && o.learningRate < 1))
    problems.push(`lstm.learningRate must be a number in (0, 1), got ${show(o.learningRate)}`);
  if (!['wasm', 'cpu', 'tensorflow'].includes(o.backend))
    problems.push(`lstm.backend must be one of wasm, cpu, tensorflow, got ${show(o.backend)}`);
  if (problems.length > 0)
    throw new InputError(ErrorCode.InvalidOptions, problems.join('; '), { field: 'lstm', value: input });
  return Object.freeze({
    ...o,
    horizons: Object.freeze([...o.horizons]),
    coarse: Object.freeze([...o.coarse]),
  });
}
