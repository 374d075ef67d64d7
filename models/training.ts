/**
 * Training and validation of a candidate, as the trainer's worker runs it:
 * fit the LSTM (and the Bayesian network) on every slot before a cut, then
 * score it, the current model and the baselines on the held-back period
 * after the cut with rolling origin (each forecast reads only its own past).
 * Pure computation: no threads, no I/O, so it is testable in-process.
 */
import { BaselineName, makeBaseline } from './baselines/index.ts';
import { BayesForecaster } from './bayes/index.ts';
import { LstmForecaster } from './lstm/index.ts';
import type { LstmOptions, LstmState } from './lstm/index.ts';
import { addObservation, finishMetrics, newAccumulator } from './metrics.ts';
import { bayesToJSON } from './serving.ts';
import type { BayesForecasterJson } from './serving.ts';
import type { Forecaster, QuantileForecast, SeriesView } from './types.ts';

/** What the trainer hands the worker. */
export interface TrainJob {
  /** Demand per slot, one array per token, all on the grid `timestamps`. */
  series: Float64Array[];
  timestamps: Float64Array;
  /** Horizons in grid steps. */
  horizons: number[];
  /** Slots at the end held back for validation (the candidate never trains on them). */
  holdout: number;
  /** LSTM settings (horizons are set from `horizons`). */
  lstm?: Partial<LstmOptions>;
  /** Also fit the Bayesian network. @default true */
  bayes?: boolean;
  /** The current model, scored on the same period (not refit). */
  current?: { state: LstmState; weights: Float32Array };
  /**
   * Weights the candidate starts from (e.g. the pretrained LSTM, or the
   * current model): fine-tuned for `lstm.initialEpochs` instead of trained
   * from scratch. Ignored unless its horizons are the job's.
   */
  init?: { state: LstmState; weights: Float32Array };
  /** Baselines the candidate must beat. @default every baseline */
  baselines?: BaselineName[];
}

/** One model's validation score: WAPE of the p50 averaged over horizons (lower is better). */
export interface ModelScore {
  wape: number;
  /** WAPE per horizon. */
  wapeByHorizon: number[];
  /** Mean pinball loss over p10/p50/p90 (NaN for point models). */
  pinball: number;
  /** Share of actuals inside p10..p90 (NaN for point models). */
  coverage80: number;
  /** Scored (origin, horizon, token) triples. */
  n: number;
}

/** Progress of a training job. */
export interface TrainProgress {
  phase: 'train' | 'validate';
  done: number;
  total: number;
  loss?: number;
}

/** What a finished job returns. */
export interface TrainResult {
  lstm: { state: LstmState; weights: Float32Array } | undefined;
  bayes: BayesForecasterJson | undefined;
  /** By model name: `candidate`, `current` and each baseline. */
  scores: Record<string, ModelScore>;
  /** First and last training slot's time (ms). */
  trainFromMs: number;
  trainToMs: number;
  trainMs: number;
  validateMs: number;
  epochs: number;
  loss: number;
}

/** Scores forecasts of origins `from..to-1` against the actuals. */
export function scoreForecasts(
  forecasts: readonly QuantileForecast[],
  series: readonly Float64Array[],
  horizons: readonly number[],
  from: number,
  to: number,
): ModelScore {
  const all = newAccumulator();
  const byH: number[] = [];
  let pin = newAccumulator();
  horizons.forEach((h, hi) => {
    const acc = newAccumulator();
    series.forEach((v, tok) => {
      const q = forecasts[tok]!;
      for (let o = from; o < to && o + h < v.length; o++) {
        const j = o - from;
        const p50 = q.p50[hi]![j]!;
        if (!Number.isFinite(p50)) continue;
        addObservation(acc, v[o + h]!, p50, p50, p50);
        addObservation(all, v[o + h]!, p50, p50, p50);
        const p10 = q.p10[hi]![j]!;
        const p90 = q.p90[hi]![j]!;
        if (Number.isFinite(p10) && Number.isFinite(p90)) addObservation(pin, v[o + h]!, p10, p50, p90);
        else pin = { ...pin, n: Number.NaN };
      }
    });
    byH.push(finishMetrics(acc, 1).wape);
  });
  const p = finishMetrics(pin, 1);
  const finite = byH.filter(Number.isFinite);
  return {
    wape:
      finite.length === byH.length && finite.length > 0
        ? finite.reduce((a, b) => a + b, 0) / finite.length
        : Number.NaN,
    wapeByHorizon: byH,
    pinball: Number.isFinite(pin.n) ? p.pinball : Number.NaN,
    coverage80: Number.isFinite(pin.n) ? p.coverage80 : Number.NaN,
    n: all.n,
  };
}

/** A trained model scored as is: `fit` does nothing. */
function frozen(name: string, m: Forecaster): Forecaster {
  return { name, horizons: m.horizons, fit: async () => {}, predict: (d, f, t) => m.predict(d, f, t) };
}

/**
 * Trains a candidate on `job` and scores it, the current model and the
 * baselines on the held-back period. Throws when the series are too short
 * to hold back a period and still train.
 */
export async function trainCandidate(
  job: TrainJob,
  onProgress: (p: TrainProgress) => void = () => {},
): Promise<TrainResult> {
  const n = job.timestamps.length;
  const maxH = Math.max(...job.horizons);
  const cut = n - job.holdout;
  if (job.holdout <= maxH || cut < 2) {
    throw new Error(
      `training needs holdout > ${maxH} slots and history before it, got ${n} slots, holdout ${job.holdout}`,
    );
  }
  const views = (len: number): SeriesView[] =>
    job.series.map((v) => ({ values: v.subarray(0, len), timestamps: job.timestamps.subarray(0, len) }));
  const past = views(cut);
  const whole = views(n);
  const t0 = performance.now();
  const fresh = new LstmForecaster({ ...job.lstm, horizons: job.horizons });
  const epochs = fresh.options.initialEpochs;
  const warm = job.init !== undefined && job.init.state.options.horizons.join(',') === job.horizons.join(',');
  const lstm = warm ? await LstmForecaster.fromState(job.init!.state, job.init!.weights) : fresh;
  if (warm) fresh.dispose();
  lstm.onEpoch = (e, loss) => onProgress({ phase: 'train', done: e, total: epochs, loss });
  onProgress({ phase: 'train', done: 0, total: epochs });
  if (warm) await lstm.fineTune(past, epochs);
  else await lstm.fit(past);
  let bayes: BayesForecaster | undefined;
  if (job.bayes ?? true) {
    bayes = new BayesForecaster({ horizons: job.horizons });
    await bayes.fit(past);
    if (bayes.models.length !== job.horizons.length) bayes = undefined;
  }
  const trainMs = performance.now() - t0;
  const t1 = performance.now();
  const interval = n > 1 ? job.timestamps[1]! - job.timestamps[0]! : 1000;
  const models: Forecaster[] = [frozen('candidate', lstm)];
  let current: LstmForecaster | undefined;
  if (job.current) {
    current = await LstmForecaster.fromState(job.current.state, job.current.weights);
    models.push(frozen('current', current));
  }
  for (const b of job.baselines ?? Object.values(BaselineName))
    models.push(makeBaseline(b, job.horizons, interval));
  const scores: Record<string, ModelScore> = {};
  const to = n - 1;
  try {
    for (const [i, m] of models.entries()) {
      onProgress({ phase: 'validate', done: i, total: models.length });
      await m.fit(past);
      const f = await m.predict(whole, cut, to);
      scores[m.name] = scoreForecasts(f, job.series, job.horizons, cut, to);
    }
    onProgress({ phase: 'validate', done: models.length, total: models.length });
    return {
      lstm: lstm.ready ? lstm.exportState() : undefined,
      bayes: bayes ? bayesToJSON(bayes) : undefined,
      scores,
      trainFromMs: job.timestamps[0] ?? 0,
      trainToMs: job.timestamps[cut - 1] ?? 0,
      trainMs,
      validateMs: performance.now() - t1,
      epochs: lstm.epochs,
      loss: lstm.lastLoss,
    };
  } finally {
    lstm.dispose();
    current?.dispose();
  }
}

/** The verdict on a candidate. */
export interface PromotionVerdict {
  promote: boolean;
  reason: string;
}

/**
 * Promote only if the candidate's WAPE is finite and lower than the current
 * model's and every baseline's (baselines that could not forecast, e.g. a
 * weekly season longer than the data, are no bar).
 */
export function judgeCandidate(scores: Record<string, ModelScore>): PromotionVerdict {
  const c = scores['candidate']?.wape ?? Number.NaN;
  if (!Number.isFinite(c)) return { promote: false, reason: 'the candidate produced no forecasts' };
  for (const [name, s] of Object.entries(scores)) {
    if (name === 'candidate' || !Number.isFinite(s.wape)) continue;
    if (!(c < s.wape)) {
      return {
        promote: false,
        reason: `candidate WAPE ${c.toFixed(4)} does not beat ${name} (${s.wape.toFixed(4)})`,
      };
    }
  }
  return {
    promote: true,
    reason: `candidate WAPE ${c.toFixed(4)} beats the current model and the baselines`,
  };
}
