/**
 * The served forecaster over whole series, offline: what a node's live zoo
 * would have served for a token at every slot of its history. The
 * statistical members run once over the series (members.ts), the LSTM and
 * the Bayesian network forecast every origin from its own past, and one
 * {@link OnlineCombiner} per series is driven round by round exactly as
 * {@link LiveZoo.predict} drives it: score the probes whose targets are
 * known, then combine. `headroom replay` forecasts with it by default and
 * bench/forecast-live.ts scores it against the baselines.
 */
import { DAY_MS, invalidField } from '../../lib/index.ts';
import type { BayesForecaster } from '../bayes/index.ts';
import type { LstmForecaster } from '../lstm/index.ts';
import type { QuantileForecast, SeriesView } from '../types.ts';
import { OnlineCombiner } from './combiner.ts';
import type { CombinerOptions } from './combiner.ts';
import { LIVE_MEMBERS, relativeSpread } from './live-zoo.ts';
import { statForecasts } from './members.ts';

/** Options of {@link liveForecasts}. */
export interface LiveTrackOptions {
  horizons: readonly number[];
  /** The grid's step (ms). */
  stepMs: number;
  /** First origin returned (every origin before it still trains the combiner). */
  from: number;
  /** The global LSTM (fitted or pretrained on this grid and these horizons); absent: no LSTM member. */
  lstm?: LstmForecaster;
  /** The Bayesian network (fitted); absent: no Bayesian member. */
  bayes?: BayesForecaster;
  /**
   * Slots the LSTM and the Bayesian network were fitted on (`values[0..fittedThrough)`):
   * they forecast only from this origin on, as a model promoted at the end of its
   * training data would, so that the combiner never scores a forecast of data the
   * model was fitted on (in-sample errors flatter it, and the weights it earns on
   * them carry over to the slots scored after). @default 0
   */
  fittedThrough?: number;
  /** Slots of history the LSTM reads per forecast, as a node's cadence sends. @default 300 */
  historySlots?: number;
  /** Slots of the level that scales the band and the Bayesian network, as {@link LiveZoo}. @default 60 */
  levelSlots?: number;
  /** A round every this many slots (a node's cadence over the grid). @default 1 */
  every?: number;
  combiner?: Partial<Omit<CombinerOptions, 'members' | 'horizons'>>;
  /** Return the members' forecasts too (for scoring them). @default false */
  keepMembers?: boolean;
}

/** One series' served forecasts, `p50[hi][o - from]`, with the mean member weights over them. */
export interface LiveTrack extends QuantileForecast {
  /** `meanWeights[hi][m]`: member m's weight averaged over the returned origins ({@link LIVE_MEMBERS} order). */
  meanWeights: Float64Array[];
  /** With `keepMembers`: every member's own forecast `members[m][hi][o]` at every origin (NaN where none). */
  members?: Float64Array[][];
}

/** Mean of the last `slots` values up to each origin (the level {@link LiveZoo} scales by). */
function runningLevel(y: Float64Array, slots: number): Float64Array {
  const level = new Float64Array(y.length);
  let sum = 0;
  for (let o = 0; o < y.length; o++) {
    sum += y[o]! - (o >= slots ? y[o - slots]! : 0);
    level[o] = sum / Math.min(o + 1, slots);
  }
  return level;
}

/** The LSTM's and the Bayesian network's p50 at every origin of one series, `[hi][o]` (NaN where none). */
async function modelMembers(
  view: SeriesView,
  level: Float64Array,
  o: LiveTrackOptions,
): Promise<{ lstm: Float64Array[]; bayes: Float64Array[] }> {
  const n = view.values.length;
  const hs = o.horizons;
  const history = o.historySlots ?? 300;
  const lstm = hs.map(() => new Float64Array(n).fill(Number.NaN));
  const bayes = hs.map(() => new Float64Array(n).fill(Number.NaN));
  const first = Math.max(0, Math.min(n, Math.floor(o.fittedThrough ?? 0)));
  const lstmFrom = Math.max(history, first);
  if (o.lstm && n > lstmFrom) {
    const q = (await o.lstm.predict([view], lstmFrom, n))[0]!;
    hs.forEach((_h, hi) => q.p50[hi]!.forEach((v, j) => (lstm[hi]![lstmFrom + j] = Math.max(0, v))));
  }
  if (o.bayes) {
    hs.forEach((h, hi) => {
      for (let t = first; t < n; t++)
        if (level[t]! > 0)
          bayes[hi]![t] = o.bayes!.coldStart(view.timestamps[t]! + h * o.stepMs, hi, level[t]!)[1];
    });
  }
  return { lstm, bayes };
}

/**
 * The live zoo's served forecast of every series at origins `from..n-1`,
 * each origin reading its own past only (no look-ahead: a probe is scored
 * once its target slot is in the history).
 */
export async function liveForecasts(views: readonly SeriesView[], o: LiveTrackOptions): Promise<LiveTrack[]> {
  if (o.fittedThrough !== undefined && !(Number.isFinite(o.fittedThrough) && o.fittedThrough >= 0))
    throw invalidField('liveTrack.fittedThrough', 'a slot index >= 0', o.fittedThrough);
  const out: LiveTrack[] = [];
  for (const view of views) {
    const y = view.values;
    const level = runningLevel(y, o.levelSlots ?? 60);
    const { lstm, bayes } = await modelMembers(view, level, o);
    const stat = statForecasts(y, 0, 0, y.length, o.horizons, Math.round(DAY_MS / o.stepMs));
    out.push(combineTrack(y, [...stat, lstm, bayes], o));
  }
  return out;
}

/** Drives one combiner over a series whose member forecasts are known at every origin. */
export function combineTrack(
  y: Float64Array,
  members: Float64Array[][],
  o: Pick<LiveTrackOptions, 'horizons' | 'from' | 'every' | 'levelSlots' | 'combiner' | 'keepMembers'>,
): LiveTrack {
  const n = y.length;
  const level = runningLevel(y, o.levelSlots ?? 60);
  const hs = o.horizons;
  const H = hs.length;
  const M = LIVE_MEMBERS.length;
  const every = o.every ?? 1;
  const from = Math.max(0, Math.min(o.from, n));
  const comb = new OnlineCombiner({ ...o.combiner, members: LIVE_MEMBERS, horizons: hs });
  // As the live zoo: the first round on a state that is dropped, the token's own from the second.
  const first = comb.newState(0, 1);
  const state = comb.newState(0, 1);
  const mk = (): Float64Array[] => hs.map(() => new Float64Array(n - from).fill(Number.NaN));
  const track: LiveTrack = {
    p10: mk(),
    p50: mk(),
    p90: mk(),
    meanWeights: hs.map(() => new Float64Array(M)),
  };
  if (o.keepMembers) track.members = members;
  const preds = new Float64Array(M * H);
  let last: { p10: number; p50: number; p90: number }[] | undefined;
  let rounds = 0;
  for (let t = 0; t < n; t++) {
    if (t % every === 0) {
      const scale = Math.max(level[t]!, 1e-3);
      const round = t / every;
      if (round === 1) comb.reset(state, t, relativeSpread(y.subarray(0, t + 1)));
      else if (round > 1) comb.observe(state, y.subarray(0, t + 1), 0, scale);
      for (let m = 0; m < M; m++) for (let hi = 0; hi < H; hi++) preds[m * H + hi] = members[m]![hi]![t]!;
      const r = comb.combine(round === 0 ? first : state, t, preds, scale);
      last = r.points;
      if (t >= from) {
        rounds++;
        r.weights.forEach((w, hi) => w.forEach((x, m) => (track.meanWeights[hi]![m]! += x)));
      }
    }
    if (t < from) continue;
    // Between rounds the latest forecast stands.
    for (let hi = 0; hi < H; hi++) {
      track.p10[hi]![t - from] = last![hi]!.p10;
      track.p50[hi]![t - from] = last![hi]!.p50;
      track.p90[hi]![t - from] = last![hi]!.p90;
    }
  }
  if (rounds > 0) for (const w of track.meanWeights) for (let m = 0; m < M; m++) w[m] = w[m]! / rounds;
  return track;
}
