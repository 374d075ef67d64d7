/**
 * The serving side of the forecasting models: a {@link ModelSet} (the LSTM
 * and the Bayesian network of one registry version) answers, in one batched
 * call, the p10/p50/p90 of many tokens at every horizon from their latest
 * slot. Tokens with too little history for the LSTM get the Bayesian
 * network's cold start (calendar evidence, scaled to the typical level).
 */
import type { BayesForecaster, BayesForecasterOptions } from './bayes/index.ts';
import { BayesForecaster as BayesForecasterClass, BayesNet } from './bayes/index.ts';
import type { BayesNetJson } from './bayes/index.ts';
import type { LstmForecaster } from './lstm/index.ts';
import { minHistory } from './lstm/index.ts';
import type { SeriesView } from './types.ts';

/** One token's recent demand on a regular grid, oldest first; the last slot is the forecast origin. */
export interface ServingInput {
  token: string;
  values: ArrayLike<number>;
  /** Start of `values[0]` (ms, UTC). */
  startMs: number;
  stepMs: number;
  /**
   * Per horizon index, the demand per step one season before the target
   * (origin + horizon - season): what the live zoo's seasonal-naive member
   * serves when `values` is shorter than a season. The forecast round sends
   * the mean per second of the one-minute bucket a day back, from the
   * token's window (its coarse ring keeps a day); null or NaN where the
   * window does not reach back. Absent: none.
   */
  season?: ArrayLike<number | null>;
}

/** How a token's forecast was made. */
export const ForecastSource = {
  Lstm: 'lstm',
  ColdStart: 'cold-start',
  /** No trained model: the recent mean, as p10 = p50 = p90 (ModelSet.predictLatest only; live serving combines). */
  Mean: 'mean',
  /** The live zoo's online combination of its members (models/live). */
  Combined: 'combined',
} as const;
export type ForecastSource = (typeof ForecastSource)[keyof typeof ForecastSource];

/** One token's forecast: `p50[h]` is the median demand per slot at horizon index h. */
export interface ServingForecast {
  token: string;
  source: ForecastSource;
  p10: number[];
  p50: number[];
  p90: number[];
  /** With `combined`: each member's weight per horizon (members under 1% at every horizon left out). */
  weights?: Record<string, number[]>;
  /** With `combined`: the member of the largest weight, per horizon. */
  leaders?: string[];
}

/** The JSON form of a trained {@link BayesForecaster}. */
export interface BayesForecasterJson {
  options: BayesForecasterOptions;
  models: { net: BayesNetJson; edges: number[]; lo: number; hi: number; currentEdges: number[] }[];
}

/** Serialises a trained Bayesian-network forecaster (its per-horizon networks and bins). */
export function bayesToJSON(b: BayesForecaster): BayesForecasterJson {
  return {
    options: { ...b.options, horizons: [...b.options.horizons] },
    models: b.models.map((m) => ({
      net: m.net.toJSON(),
      edges: [...m.edges],
      lo: m.lo,
      hi: m.hi,
      currentEdges: [...m.currentEdges],
    })),
  };
}

/** Rebuilds a forecaster written by {@link bayesToJSON}. */
export function bayesFromJSON(json: BayesForecasterJson): BayesForecaster {
  const b = new BayesForecasterClass(json.options);
  b.models = json.models.map((m) => ({
    net: BayesNet.fromJSON(m.net),
    edges: Float64Array.from(m.edges),
    lo: m.lo,
    hi: m.hi,
    currentEdges: Float64Array.from(m.currentEdges),
    memo: new Map(),
  }));
  return b;
}

function mean(v: ArrayLike<number>, from: number): number {
  let s = 0;
  for (let i = from; i < v.length; i++) s += Math.abs(v[i]!);
  return v.length > from ? s / (v.length - from) : 0;
}

/**
 * The models of one registry version, ready to serve. Either part may be
 * absent (e.g. too little data to fit the Bayesian network).
 */
export class ModelSet {
  readonly version: string | undefined;
  /** Horizons in grid steps. */
  readonly horizons: readonly number[];
  readonly lstm: LstmForecaster | undefined;
  readonly bayes: BayesForecaster | undefined;

  constructor(parts: {
    version?: string;
    horizons: readonly number[];
    lstm?: LstmForecaster;
    bayes?: BayesForecaster;
  }) {
    this.version = parts.version;
    this.horizons = parts.horizons;
    this.lstm = parts.lstm;
    this.bayes = parts.bayes;
  }

  /** Slots of history the LSTM needs; fewer gets the cold start. */
  get minHistory(): number {
    const s = this.lstm?.featureSpec;
    return s === undefined ? Number.POSITIVE_INFINITY : minHistory(s);
  }

  /**
   * The LSTM's p10/p50/p90 at the latest slot of every input with enough
   * history, in one call: `warm` lists those inputs, `q.p50[k * H + h]` is
   * the k-th warm input's median at horizon index h.
   */
  lstmLatest(inputs: readonly ServingInput[]): {
    warm: number[];
    views: SeriesView[];
    q: { p10: Float32Array; p50: Float32Array; p90: Float32Array };
  } {
    const need = this.minHistory;
    const warm: number[] = [];
    if (this.lstm?.ready) inputs.forEach((x, i) => x.values.length >= need && warm.push(i));
    const empty = new Float32Array(0);
    if (warm.length === 0) return { warm, views: [], q: { p10: empty, p50: empty, p90: empty } };
    // Tokens of one cadence round mostly share their grid: one timestamps array per grid.
    const grids = new Map<string, Float64Array>();
    const views: SeriesView[] = warm.map((i) => {
      const x = inputs[i]!;
      const values = Float64Array.from(x.values);
      const key = `${x.startMs}:${x.stepMs}:${values.length}`;
      let timestamps = grids.get(key);
      if (timestamps === undefined) {
        timestamps = Float64Array.from(values, (_v, k) => x.startMs + k * x.stepMs);
        grids.set(key, timestamps);
      }
      return { values, timestamps };
    });
    const floors = views.map((v) => 0.1 * mean(v.values, 0));
    return { warm, views, q: this.lstm!.forecastLatest(views, floors) };
  }

  /** Forecasts every input at its latest slot, in one LSTM call for all warm tokens. */
  predictLatest(inputs: readonly ServingInput[]): ServingForecast[] {
    const H = this.horizons.length;
    const out: ServingForecast[] = inputs.map((x) => ({
      token: x.token,
      source: ForecastSource.Mean,
      p10: [],
      p50: [],
      p90: [],
    }));
    const levels: number[] = [];
    const { warm, views, q } = this.lstmLatest(inputs);
    if (warm.length > 0) {
      warm.forEach((i, k) => {
        const f = out[i]!;
        f.source = ForecastSource.Lstm;
        for (let h = 0; h < H; h++) {
          f.p10.push(Math.max(0, q.p10[k * H + h]!));
          f.p50.push(Math.max(0, q.p50[k * H + h]!));
          f.p90.push(Math.max(0, q.p90[k * H + h]!));
        }
        levels.push(mean(views[k]!.values, Math.max(0, views[k]!.values.length - 60)));
      });
    }
    levels.sort((a, b) => a - b);
    const typical = levels.length > 0 ? levels[Math.floor(levels.length / 2)]! : Number.NaN;
    out.forEach((f, i) => {
      if (f.source === ForecastSource.Lstm) return;
      const x = inputs[i]!;
      const own = mean(x.values, 0);
      const level = Number.isFinite(typical) && typical > 0 ? typical : Math.max(own, 1e-6);
      const origin = x.startMs + (x.values.length - 1) * x.stepMs;
      for (let h = 0; h < H; h++) {
        const cs = this.bayes?.coldStart(origin + this.horizons[h]! * x.stepMs, h, level);
        if (cs && cs.every(Number.isFinite)) {
          f.source = ForecastSource.ColdStart;
          f.p10.push(cs[0]);
          f.p50.push(cs[1]);
          f.p90.push(cs[2]);
        } else {
          f.p10.push(own);
          f.p50.push(own);
          f.p90.push(own);
        }
      }
      if (f.source !== ForecastSource.ColdStart) f.source = ForecastSource.Mean;
    });
    return out;
  }

  /** Frees the LSTM's tensors. */
  dispose(): void {
    this.lstm?.dispose();
  }
}
