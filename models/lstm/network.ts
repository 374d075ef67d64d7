import type * as Tf from '@tensorflow/tfjs';
import type { TfModule } from '../backend.ts';
import { mulberry32 } from '../../lib/index.ts';
import type { FeatureBatch } from './features.ts';

/** Shape and training settings of the quantile LSTM. */
export interface NetworkSpec {
  lookback: number;
  staticWidth: number;
  horizons: number;
  /** LSTM units. @default 24 */
  units: number;
  /** Dense units after the LSTM. @default 32 */
  hidden: number;
  learningRate: number;
  seed: number;
}

/** The quantile levels every horizon predicts, in output order. */
export const QUANTILES = [0.1, 0.5, 0.9] as const;

/**
 * A sequence encoder (LSTM over the scaled recent values) joined with the
 * static features, then a dense head that outputs, in one pass, the p10, p50
 * and p90 of every horizon (`3 * horizons` outputs, quantile-major).
 * Trained with the pinball loss averaged over quantiles and horizons.
 */
export class QuantileNetwork {
  readonly spec: NetworkSpec;
  readonly model: Tf.LayersModel;
  readonly #tf: TfModule;
  readonly #taus: Tf.Tensor;

  /** `tf` is the module that `loadTf()` resolved: building and running a network is synchronous. */
  constructor(tf: TfModule, spec: NetworkSpec) {
    this.#tf = tf;
    this.spec = spec;
    const init = (k: number) => tf.initializers.glorotUniform({ seed: spec.seed + k });
    const seqIn = tf.input({ shape: [spec.lookback, 1] });
    const statIn = tf.input({ shape: [spec.staticWidth] });
    const enc = tf.layers
      .lstm({ units: spec.units, kernelInitializer: init(1), recurrentInitializer: init(2) })
      .apply(seqIn) as Tf.SymbolicTensor;
    const joined = tf.layers.concatenate().apply([enc, statIn]) as Tf.SymbolicTensor;
    const hid = tf.layers
      .dense({ units: spec.hidden, activation: 'relu', kernelInitializer: init(3) })
      .apply(joined) as Tf.SymbolicTensor;
    const out = tf.layers
      .dense({ units: 3 * spec.horizons, kernelInitializer: init(4) })
      .apply(hid) as Tf.SymbolicTensor;
    this.model = tf.model({ inputs: [seqIn, statIn], outputs: out });
    const taus: number[] = [];
    for (const q of QUANTILES) for (let h = 0; h < spec.horizons; h++) taus.push(q);
    this.#taus = tf.tensor2d(taus, [1, taus.length]);
    const t = this.#taus;
    this.model.compile({
      optimizer: tf.train.adam(spec.learningRate),
      // yTrue carries the targets repeated per quantile, so shapes match.
      loss: (yTrue: Tf.Tensor, yPred: Tf.Tensor) =>
        tf.tidy(() => {
          const d = tf.sub(yTrue, yPred);
          return tf.mean(tf.maximum(tf.mul(d, t), tf.mul(d, tf.sub(t, 1))));
        }),
    });
  }

  /** Trains for `epochs` on a batch with targets; returns the last epoch's loss. */
  async train(
    batch: FeatureBatch,
    epochs: number,
    batchSize = 256,
    onEpoch?: (epoch: number, loss: number) => void,
  ): Promise<number> {
    if (!batch.target) throw new Error('QuantileNetwork.train needs targets');
    const tf = this.#tf;
    const { n } = batch;
    const H = this.spec.horizons;
    const tiled = new Float32Array(n * 3 * H);
    for (let i = 0; i < n; i++)
      for (let q = 0; q < 3; q++) tiled.set(batch.target.subarray(i * H, (i + 1) * H), i * 3 * H + q * H);
    const xs = tf.tensor3d(batch.seq, [n, this.spec.lookback, 1]);
    const st = tf.tensor2d(batch.stat, [n, this.spec.staticWidth]);
    const ys = tf.tensor2d(tiled, [n, 3 * H]);
    // Each epoch in an order drawn from the spec's seed, not fit's own
    // shuffle (Math.random): the same data and seed train the same weights,
    // so a fit, the trainer's validation and the benches repeat.
    const random = mulberry32((this.spec.seed * 0x9e3779b1) ^ 0x5bd1e995);
    let loss = Number.NaN;
    try {
      for (let epoch = 0; epoch < epochs; epoch++) {
        const order = tf.tensor1d(permutation(n, random), 'int32');
        const px = tf.gather(xs, order);
        const ps = tf.gather(st, order);
        const py = tf.gather(ys, order);
        order.dispose();
        try {
          const hist = await this.model.fit([px, ps], py, {
            epochs: 1,
            batchSize,
            shuffle: false,
            verbose: 0,
          });
          loss = (hist.history.loss as number[])[0] ?? Number.NaN;
        } finally {
          px.dispose();
          ps.dispose();
          py.dispose();
        }
        onEpoch?.(epoch + 1, loss);
      }
      return loss;
    } finally {
      xs.dispose();
      st.dispose();
      ys.dispose();
    }
  }

  /**
   * Predicts scaled quantiles for a batch in chunks (bounded memory):
   * `out[i * 3H + q * H + h]`, sorted so that p10 <= p50 <= p90.
   */
  predict(batch: FeatureBatch, chunk = 8192): Float32Array {
    const tf = this.#tf;
    const H = this.spec.horizons;
    const out = new Float32Array(batch.n * 3 * H);
    for (let s = 0; s < batch.n; s += chunk) {
      const e = Math.min(batch.n, s + chunk);
      const part = tf.tidy(() => {
        const xs = tf.tensor3d(batch.seq.subarray(s * this.spec.lookback, e * this.spec.lookback), [
          e - s,
          this.spec.lookback,
          1,
        ]);
        const st = tf.tensor2d(batch.stat.subarray(s * this.spec.staticWidth, e * this.spec.staticWidth), [
          e - s,
          this.spec.staticWidth,
        ]);
        return this.model.predict([xs, st]) as Tf.Tensor;
      });
      try {
        out.set(part.dataSync() as Float32Array, s * 3 * H);
      } finally {
        part.dispose();
      }
    }
    for (let i = 0; i < batch.n; i++) {
      for (let h = 0; h < H; h++) {
        const a = out[i * 3 * H + h]!;
        const b = out[i * 3 * H + H + h]!;
        const c = out[i * 3 * H + 2 * H + h]!;
        const sorted = [a, b, c].sort((x, y) => x - y);
        out[i * 3 * H + h] = sorted[0]!;
        out[i * 3 * H + H + h] = sorted[1]!;
        out[i * 3 * H + 2 * H + h] = sorted[2]!;
      }
    }
    return out;
  }

  /** The weights, in layer order: shapes and one flat float32 array (for saving). */
  exportWeights(): { shapes: number[][]; data: Float32Array } {
    const ws = this.model.getWeights();
    const shapes = ws.map((w) => [...w.shape]);
    const total = ws.reduce((n, w) => n + w.size, 0);
    const data = new Float32Array(total);
    let at = 0;
    for (const w of ws) {
      data.set(w.dataSync() as Float32Array, at);
      at += w.size;
    }
    return { shapes, data };
  }

  /** Loads weights written by {@link exportWeights}; the shapes must match this network's. */
  importWeights(saved: { shapes: readonly (readonly number[])[]; data: Float32Array }): void {
    const current = this.model.getWeights();
    if (current.length !== saved.shapes.length) {
      throw new Error(`lstm weights: expected ${current.length} tensors, got ${saved.shapes.length}`);
    }
    const tf = this.#tf;
    let at = 0;
    const tensors = saved.shapes.map((shape, i) => {
      const size = shape.reduce((a, b) => a * b, 1);
      if (current[i]!.shape.join('x') !== shape.join('x')) {
        throw new Error(
          `lstm weights: tensor ${i} has shape ${shape.join('x')}, expected ${current[i]!.shape.join('x')}`,
        );
      }
      const t = tf.tensor(saved.data.subarray(at, at + size), [...shape]);
      at += size;
      return t;
    });
    try {
      this.model.setWeights(tensors);
    } finally {
      for (const t of tensors) t.dispose();
    }
  }

  /** Frees the weights, optimizer state and constants. */
  dispose(): void {
    this.model.optimizer?.dispose();
    this.model.dispose();
    this.#taus.dispose();
  }
}

/** 0..n-1 in a uniformly random order (Fisher-Yates, Knuth 3.4.2 Algorithm P), drawn from `random`. */
function permutation(n: number, random: () => number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a;
}
