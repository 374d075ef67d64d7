import type { Forecaster, QuantileForecast, SeriesView } from '../types.ts';
import { emptyForecast } from '../types.ts';
import { loadTf, useBackend } from '../backend.ts';
import type { BackendChoice } from '../backend.ts';
import { buildFeatures, minHistory, staticWidth } from './features.ts';
import type { FeatureSpec } from './features.ts';
import { LstmInference } from './inference.ts';
import type { ExportedWeights } from './inference.ts';
import { QuantileNetwork } from './network.ts';
import { compileLstmOptions } from './options.ts';
import type { LstmOptions } from './options.ts';
import { DAY_MS, mulberry32 } from '../../lib/index.ts';

/** Rows from which `predict` runs on the TensorFlow.js network rather than the JavaScript pass. */
const BULK_ROWS = 2048;

/** Everything needed to rebuild a trained {@link LstmForecaster} (weights apart from the JSON). */
export interface LstmState {
  options: LstmOptions;
  spec: FeatureSpec;
  floors: number[];
  epochs: number;
  lastLoss: number;
  weightShapes: number[][];
}

/**
 * One global LSTM across tokens, per-token scaling, forecasting p10/p50/p90
 * at every horizon in one pass. The first `fit` trains from scratch; later
 * calls refresh the weights every `refreshEvery` calls with a few epochs on
 * recent data (warm start), so continuous retraining stays cheap.
 *
 * Serving (`forecastLatest`) runs the network's forward pass in plain
 * JavaScript ({@link LstmInference}) on its weights, and a forecaster
 * rebuilt by {@link LstmForecaster.fromState} holds only those weights: a
 * node that serves a model never loads TensorFlow.js, which is loaded (and
 * the network built from the weights) when the forecaster trains.
 */
export class LstmForecaster implements Forecaster {
  readonly name = 'lstm';
  readonly horizons: readonly number[];
  readonly options: Readonly<LstmOptions>;
  backend?: BackendChoice;
  #net?: QuantileNetwork;
  /** Weights of a forecaster rebuilt by fromState, until a network is built from them. */
  #weights?: ExportedWeights;
  /** The JavaScript forward pass on the current weights (built on first use, dropped when they change). */
  #inference?: LstmInference;
  #spec?: FeatureSpec;
  #floors: number[] = [];
  #calls = 0;
  #random: () => number;
  /** Loss of the last training, and epochs run so far. */
  lastLoss = Number.NaN;
  epochs = 0;
  /** Called after every training epoch (1-based) with its loss: progress reporting. */
  onEpoch?: (epoch: number, loss: number) => void;

  constructor(options: Partial<LstmOptions> = {}) {
    this.options = compileLstmOptions(options);
    this.horizons = this.options.horizons;
    this.#random = mulberry32(this.options.seed);
  }

  /** The feature layout fixed at the first fit (undefined before). */
  get featureSpec(): FeatureSpec | undefined {
    return this.#spec;
  }

  /** Whether a network has been trained. */
  get ready(): boolean {
    return (this.#net !== undefined || this.#weights !== undefined) && this.epochs > 0;
  }

  async fit(data: readonly SeriesView[]): Promise<void> {
    this.#calls++;
    const o = this.options;
    const first = !this.ready;
    if (!first && (this.#calls - 1) % o.refreshEvery !== 0) return;
    if (!this.#spec) {
      const ts = data.find((d) => d.timestamps.length > 1)?.timestamps;
      if (!ts) return;
      const interval = ts[1]! - ts[0]!;
      const day = Math.max(1, Math.round(DAY_MS / interval));
      this.#spec = {
        lookback: o.lookback,
        horizons: o.horizons,
        daySteps: day,
        weekSteps: 7 * day,
        scaleWindow: o.scaleWindow,
        coarse: o.coarse,
      };
    }
    await this.#train(data, first ? o.initialEpochs : o.refreshEpochs);
  }

  /**
   * Fine-tunes a trained network on `data` for `epochs` (warm start from
   * its weights: e.g. the pretrained LSTM refreshed on a node's own
   * demand). Trains from scratch when nothing was trained yet.
   */
  async fineTune(data: readonly SeriesView[], epochs: number): Promise<void> {
    if (!this.ready) return this.fit(data);
    this.#calls++;
    await this.#train(data, epochs);
  }

  /** Samples training origins of `data` and trains `epochs` (building the network first if needed). */
  async #train(data: readonly SeriesView[], epochs: number): Promise<void> {
    const o = this.options;
    const spec = this.#spec!;
    this.#floors = data.map((d) => {
      let s = 0;
      for (const x of d.values) s += Math.abs(x);
      return (0.1 * s) / Math.max(1, d.values.length);
    });
    const { tokens, origins } = this.#sample(data, spec);
    if (origins.length < 32) return;
    const net = await this.#network();
    const batch = buildFeatures(spec, data, tokens, origins, this.#floors, true);
    if (epochs === 0) return;
    this.#inference = undefined; // the weights change
    this.lastLoss = await net.train(batch, epochs, o.batchSize, this.onEpoch);
    this.epochs += epochs;
  }

  /**
   * The TensorFlow.js network, built on first need (training): loads
   * TensorFlow.js, and takes the weights of a forecaster rebuilt by fromState.
   */
  async #network(): Promise<QuantileNetwork> {
    if (this.#net) return this.#net;
    const o = this.options;
    const tf = await loadTf();
    this.backend = await useBackend(o.backend);
    if (this.#net) return this.#net; // built by a concurrent call meanwhile
    const net = new QuantileNetwork(tf, {
      lookback: o.lookback,
      staticWidth: staticWidth(this.#spec!),
      horizons: o.horizons.length,
      units: o.units,
      hidden: o.hidden,
      learningRate: o.learningRate,
      seed: o.seed,
    });
    if (this.#weights) {
      try {
        net.importWeights(this.#weights);
      } catch (err) {
        net.dispose();
        throw err;
      }
    }
    this.#net = net;
    this.#weights = undefined;
    return net;
  }

  /** The JavaScript forward pass on the current weights. */
  #forward(): LstmInference {
    if (this.#inference) return this.#inference;
    const o = this.options;
    const weights = this.#weights ?? this.#net!.exportWeights();
    this.#inference = new LstmInference(
      {
        lookback: o.lookback,
        staticWidth: staticWidth(this.#spec!),
        horizons: o.horizons.length,
        units: o.units,
        hidden: o.hidden,
      },
      weights,
    );
    return this.#inference;
  }

  /** Training origins: a `recentShare` of the most recent, the rest drawn from all history. */
  #sample(data: readonly SeriesView[], spec: FeatureSpec): { tokens: Int32Array; origins: Int32Array } {
    const maxH = Math.max(...spec.horizons);
    const per = Math.max(1, Math.floor(this.options.maxSamples / Math.max(1, data.length)));
    const tk: number[] = [];
    const or: number[] = [];
    const add = (k: number, o: number): void => {
      tk.push(k);
      or.push(o);
    };
    data.forEach((d, k) => {
      const lo = minHistory(spec) - 1;
      const hi = d.values.length - 1 - maxH;
      const count = hi - lo + 1;
      if (count <= 0) return;
      if (count <= per) {
        for (let o = lo; o <= hi; o++) add(k, o);
        return;
      }
      const recent = Math.floor(per * this.options.recentShare);
      for (let o = hi - recent + 1; o <= hi; o++) add(k, o);
      for (let i = recent; i < per; i++) add(k, lo + Math.floor(this.#random() * (count - recent)));
    });
    return { tokens: Int32Array.from(tk), origins: Int32Array.from(or) };
  }

  async predict(data: readonly SeriesView[], from: number, to: number): Promise<QuantileForecast[]> {
    const H = this.horizons.length;
    const out = data.map(() => emptyForecast(H, to - from));
    if (!this.ready || !this.#spec || to <= from) return out;
    const n = data.length * (to - from);
    const tokens = new Int32Array(n);
    const origins = new Int32Array(n);
    let i = 0;
    for (let k = 0; k < data.length; k++) {
      for (let o = from; o < to; o++) {
        tokens[i] = k;
        origins[i++] = o;
      }
    }
    // Thousands of rows (evaluation, a candidate's validation): TensorFlow.js's batched
    // kernels beat the JavaScript pass there, so the network is built for them.
    if (n >= BULK_ROWS) await this.#network();
    const q = this.#run(data, tokens, origins, undefined, this.#net === undefined);
    for (let j = 0; j < n; j++) {
      const f = out[tokens[j]!]!;
      const idx = origins[j]! - from;
      for (let h = 0; h < H; h++) {
        f.p10[h]![idx] = q.p10[j * H + h]!;
        f.p50[h]![idx] = q.p50[j * H + h]!;
        f.p90[h]![idx] = q.p90[j * H + h]!;
      }
    }
    return out;
  }

  /**
   * Batched inference at the latest slot of every token, in one call: the
   * serving path (all active tokens of a node), on the JavaScript forward
   * pass (~40,000 multiply-adds a token, nothing allocated per token; the
   * caller slices a large round). `p50[k * H + h]` etc.
   */
  forecastLatest(
    data: readonly SeriesView[],
    floors?: readonly number[],
  ): { p10: Float32Array; p50: Float32Array; p90: Float32Array } {
    const tokens = Int32Array.from(data, (_d, k) => k);
    const origins = Int32Array.from(data, (d) => d.values.length - 1);
    return this.#run(data, tokens, origins, floors, true);
  }

  /**
   * The trained state for saving: JSON-able settings plus the weights as one
   * float32 array. Throws when nothing was trained.
   */
  exportState(): { state: LstmState; weights: Float32Array } {
    if (!this.#spec || !this.ready) throw new Error('lstm: not trained');
    const { shapes, data } = this.#net ? this.#net.exportWeights() : this.#weights!;
    const state: LstmState = {
      options: { ...this.options, horizons: [...this.options.horizons], coarse: [...this.options.coarse] },
      spec: { ...this.#spec, horizons: [...this.#spec.horizons], coarse: [...this.#spec.coarse] },
      floors: [...this.#floors],
      epochs: this.epochs,
      lastLoss: this.lastLoss,
      weightShapes: shapes.map((sh) => [...sh]),
    };
    return { state, weights: this.#net ? data : data.slice() };
  }

  /**
   * Rebuilds a trained forecaster from {@link exportState}'s output. It
   * serves on the JavaScript forward pass without loading TensorFlow.js; the
   * network is built from the weights when it trains (fineTune). Throws when
   * the weights do not fit the settings.
   */
  static async fromState(state: LstmState, weights: Float32Array): Promise<LstmForecaster> {
    const f = new LstmForecaster(state.options);
    f.#spec = state.spec;
    f.#weights = { shapes: state.weightShapes, data: weights };
    f.#forward(); // checks the weights' shapes against the settings now
    f.#floors = [...state.floors];
    f.epochs = Math.max(1, state.epochs);
    f.lastLoss = state.lastLoss;
    f.#calls = 1;
    return f;
  }

  /** Quantiles at `origins`; `js`: on the JavaScript forward pass, else on the TensorFlow.js network. */
  #run(
    data: readonly SeriesView[],
    tokens: Int32Array,
    origins: Int32Array,
    given: readonly number[] | undefined,
    js: boolean,
  ): { p10: Float32Array; p50: Float32Array; p90: Float32Array } {
    if (!this.ready || !this.#spec) throw new Error('lstm: not trained');
    const H = this.horizons.length;
    const floors = data.map((_d, k) => (given ? given[k] : this.#floors[k]) ?? 0);
    const batch = buildFeatures(this.#spec, data, tokens, origins, floors, false);
    // Bulk predictions (evaluation, validation) with a network built run on it: one
    // TensorFlow.js call amortises its per-call cost over thousands of rows.
    const raw = js || !this.#net ? this.#forward().predict(batch) : this.#net.predict(batch);
    const n = origins.length;
    const p10 = new Float32Array(n * H);
    const p50 = new Float32Array(n * H);
    const p90 = new Float32Array(n * H);
    for (let j = 0; j < n; j++) {
      const s = batch.scale[j]!;
      const a = batch.anchor[j]!;
      for (let h = 0; h < H; h++) {
        p10[j * H + h] = a + raw[j * 3 * H + h]! * s;
        p50[j * H + h] = a + raw[j * 3 * H + H + h]! * s;
        p90[j * H + h] = a + raw[j * 3 * H + 2 * H + h]! * s;
      }
    }
    return { p10, p50, p90 };
  }

  /** Frees the network's tensors. */
  dispose(): void {
    this.#net?.dispose();
    this.#net = undefined;
    this.#weights = undefined;
    this.#inference = undefined;
    this.epochs = 0;
  }
}
