/**
 * The quantile network's forward pass in plain JavaScript, on its exported
 * weights: what serving runs (issue 15). TensorFlow.js runs an LSTM of 16
 * steps as ~250 kernel calls per batch, each with its tensors, their
 * bookkeeping and garbage, so a forecast round over 333 tokens held a node's
 * event loop for 20-50 ms on a quiet 2-core machine (and the p99 of checks
 * at half the echo's rate went to 9x the echo's). The network is small
 * (24 units, ~40,000 multiply-adds per token), so the same arithmetic in
 * typed-array loops takes ~20 µs per token, allocates nothing per token,
 * and can be run a slice of tokens at a time.
 *
 * The layers are those of {@link QuantileNetwork} (tfjs-layers semantics):
 * an LSTM (gates i, f, c, o; activation tanh, recurrent activation
 * hardSigmoid = clip(0.2 x + 0.5, 0, 1); zero initial state) whose last
 * output is joined with the static features, a dense ReLU layer, and a
 * linear dense layer of `3 * horizons` outputs, quantile-major, sorted per
 * horizon so that p10 <= p50 <= p90. Sums are in doubles; TensorFlow.js's
 * float32 kernels agree to ~1e-6 relative.
 */
import type { FeatureBatch } from './features.ts';

/** Sizes of the network that {@link LstmInference} runs. */
export interface InferenceSpec {
  lookback: number;
  staticWidth: number;
  horizons: number;
  units: number;
  hidden: number;
}

/** Weights as `QuantileNetwork.exportWeights` writes them: shapes in layer order, one float32 array. */
export interface ExportedWeights {
  shapes: readonly (readonly number[])[];
  data: Float32Array;
}

const hardSigmoid = (x: number): number => (x <= -2.5 ? 0 : x >= 2.5 ? 1 : 0.2 * x + 0.5);

export class LstmInference {
  readonly spec: Readonly<InferenceSpec>;
  /** LSTM kernel (4U), recurrent kernel transposed (4U x U, row-major) and bias (4U). */
  readonly #k: Float64Array;
  readonly #rt: Float64Array;
  readonly #b: Float64Array;
  /** Dense layers: kernels (in x out, row-major) and biases. */
  readonly #w1: Float64Array;
  readonly #b1: Float64Array;
  readonly #w2: Float64Array;
  readonly #b2: Float64Array;
  /** Scratch of one token's pass. */
  readonly #z: Float64Array;
  readonly #h: Float64Array;
  readonly #c: Float64Array;
  readonly #joined: Float64Array;
  readonly #hid: Float64Array;

  constructor(spec: InferenceSpec, weights: ExportedWeights) {
    const { lookback, staticWidth, horizons, units: U, hidden } = spec;
    if (!(lookback >= 1 && U >= 1 && hidden >= 1 && horizons >= 1 && staticWidth >= 0)) {
      throw new Error(`lstm inference: bad sizes ${JSON.stringify(spec)}`);
    }
    const want = [
      [1, 4 * U],
      [U, 4 * U],
      [4 * U],
      [U + staticWidth, hidden],
      [hidden],
      [hidden, 3 * horizons],
      [3 * horizons],
    ];
    const got = weights.shapes.map((s) => s.join('x')).join(', ');
    if (got !== want.map((s) => s.join('x')).join(', ')) {
      throw new Error(
        `lstm inference: weight shapes ${got}, expected ${want.map((s) => s.join('x')).join(', ')}`,
      );
    }
    const total = want.reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
    if (weights.data.length !== total) {
      throw new Error(`lstm inference: ${weights.data.length} weights, expected ${total}`);
    }
    let at = 0;
    const take = (shape: number[]): Float64Array => {
      const size = shape.reduce((a, b) => a * b, 1);
      const part = Float64Array.from(weights.data.subarray(at, at + size));
      at += size;
      return part;
    };
    this.spec = Object.freeze({ ...spec });
    let r: Float64Array;
    [this.#k, r, this.#b, this.#w1, this.#b1, this.#w2, this.#b2] = want.map(take) as [
      Float64Array,
      Float64Array,
      Float64Array,
      Float64Array,
      Float64Array,
      Float64Array,
      Float64Array,
    ];
    this.#rt = new Float64Array(4 * U * U);
    for (let u = 0; u < U; u++) for (let g = 0; g < 4 * U; g++) this.#rt[g * U + u] = r[u * 4 * U + g]!;
    this.#z = new Float64Array(4 * U);
    this.#h = new Float64Array(U);
    this.#c = new Float64Array(U);
    this.#joined = new Float64Array(U + staticWidth);
    this.#hid = new Float64Array(hidden);
  }

  /**
   * Scaled quantiles of rows `from..to` of `batch` into `out` (the layout of
   * `QuantileNetwork.predict`: `out[i * 3H + q * H + h]`, sorted per
   * horizon). Synchronous and allocation-free: callers slice a large batch
   * to keep each stretch short.
   */
  predictInto(batch: FeatureBatch, out: Float32Array, from = 0, to = batch.n): void {
    const { lookback: L, staticWidth: S, horizons: H, units: U, hidden: D } = this.spec;
    const G = 4 * U;
    const K = this.#k;
    const RT = this.#rt;
    const B = this.#b;
    const W1 = this.#w1;
    const B1 = this.#b1;
    const W2 = this.#w2;
    const B2 = this.#b2;
    const z = this.#z;
    const h = this.#h;
    const c = this.#c;
    const joined = this.#joined;
    const hid = this.#hid;
    const J = U + S;
    for (let i = from; i < to; i++) {
      h.fill(0);
      c.fill(0);
      for (let t = 0; t < L; t++) {
        const x = batch.seq[i * L + t]!;
        // z = x K + h R + b, R transposed: one dot product of U per gate unit, four sums at a time.
        for (let g = 0; g < G; g++) {
          const row = g * U;
          let s0 = x * K[g]! + B[g]!;
          let s1 = 0;
          let s2 = 0;
          let s3 = 0;
          let u = 0;
          for (; u + 3 < U; u += 4) {
            s0 += h[u]! * RT[row + u]!;
            s1 += h[u + 1]! * RT[row + u + 1]!;
            s2 += h[u + 2]! * RT[row + u + 2]!;
            s3 += h[u + 3]! * RT[row + u + 3]!;
          }
          for (; u < U; u++) s0 += h[u]! * RT[row + u]!;
          z[g] = s0 + s1 + s2 + s3;
        }
        for (let u = 0; u < U; u++) {
          const ig = hardSigmoid(z[u]!);
          const fg = hardSigmoid(z[U + u]!);
          const cu = fg * c[u]! + ig * Math.tanh(z[2 * U + u]!);
          c[u] = cu;
          h[u] = hardSigmoid(z[3 * U + u]!) * Math.tanh(cu);
        }
      }
      for (let u = 0; u < U; u++) joined[u] = h[u]!;
      for (let s = 0; s < S; s++) joined[U + s] = batch.stat[i * S + s]!;
      for (let d = 0; d < D; d++) hid[d] = B1[d]!;
      for (let j = 0; j < J; j++) {
        const v = joined[j]!;
        if (v === 0) continue;
        const row = j * D;
        for (let d = 0; d < D; d++) hid[d] = hid[d]! + v * W1[row + d]!;
      }
      for (let d = 0; d < D; d++) if (hid[d]! < 0) hid[d] = 0;
      const o = i * 3 * H;
      for (let q = 0; q < 3 * H; q++) {
        let s = B2[q]!;
        for (let d = 0; d < D; d++) s += hid[d]! * W2[d * 3 * H + q]!;
        out[o + q] = s;
      }
      for (let hi = 0; hi < H; hi++) {
        // Three values in order: p10 <= p50 <= p90 (the network does not enforce it).
        let a = out[o + hi]!;
        let b = out[o + H + hi]!;
        let e = out[o + 2 * H + hi]!;
        if (a > b) [a, b] = [b, a];
        if (b > e) [b, e] = [e, b];
        if (a > b) [a, b] = [b, a];
        out[o + hi] = a;
        out[o + H + hi] = b;
        out[o + 2 * H + hi] = e;
      }
    }
  }

  /** Scaled quantiles of every row of `batch`, in one call (see {@link predictInto}). */
  predict(batch: FeatureBatch): Float32Array {
    const out = new Float32Array(batch.n * 3 * this.spec.horizons);
    this.predictInto(batch, out);
    return out;
  }
}
