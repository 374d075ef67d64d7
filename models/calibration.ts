/**
 * Calibration of the 80% forecast interval on past origins only.
 *
 * Split-conformal scores, normalised by a causal local scale so that one set
 * of quantiles fits quiet and busy periods alike (normalised conformal
 * prediction, Papadopoulos et al. 2002), one score per side as in CQR
 * (Romano et al. 2019): below the lower base `(lo - y) / scale`, above the
 * upper base `(y - hi) / scale`, where the bases are the model's own p10/p90
 * or, for point models, its p50. Each side's score quantile is then tracked
 * online (conformal quantile tracking, Angelopoulos, Candes & Tibshirani
 * 2023, in the spirit of adaptive conformal inference, Gibbs & Candes 2021):
 * after every outcome that becomes known, the offset moves by
 * `rate * spread * (miss - tail)`, so long-run coverage holds under
 * distribution shift, even beyond the largest validation score.
 */

/** Empirical quantile (type 7, linear interpolation) of ascending-sorted `a`. */
export function sortedQuantile(a: ArrayLike<number>, q: number): number {
  if (a.length === 0) return Number.NaN;
  const pos = (a.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return a[lo]! + (a[hi]! - a[lo]!) * (pos - lo);
}

/** Empirical quantile of `xs` (sorts a copy). */
export function quantile(xs: ArrayLike<number>, q: number): number {
  return sortedQuantile(Float64Array.from(xs).sort(), q);
}

/**
 * A causal local scale at origin `o`: the mean absolute value of the last
 * `k` slots, floored at `floor` (so near-zero stretches never divide by 0).
 */
export function localScale(values: Float64Array, o: number, k: number, floor: number): number {
  let s = 0;
  let n = 0;
  for (let i = Math.max(0, o - k + 1); i <= o; i++) {
    s += Math.abs(values[i]!);
    n++;
  }
  return Math.max(n ? s / n : 0, floor);
}

/** One validation origin: the actual, the model's raw forecast and the scale at that origin. */
export interface CalibrationSample {
  y: number;
  p10: number;
  p50: number;
  p90: number;
  scale: number;
}

/** Options of {@link AdaptiveInterval}. */
export interface AdaptiveIntervalOptions {
  /** Miss rate aimed at on each side. @default 0.1 */
  tail: number;
  /** Step of the online offset, in units of the score spread (0 = plain split conformal). @default 0.05 */
  rate: number;
  /** Fewer validation samples than this leave the interval uncalibrated. @default 20 */
  minSamples: number;
}

function bases(p10: number, p50: number, p90: number): [number, number] {
  return Number.isFinite(p10) && Number.isFinite(p90) ? [p10, p90] : [p50, p50];
}

/** The adaptive conformal interval of one model, token and horizon. */
export class AdaptiveInterval {
  readonly options: AdaptiveIntervalOptions;
  /** Online offsets added to the lower and upper score quantiles. */
  offsetLo = 0;
  offsetHi = 0;
  #qLo = 0;
  #qHi = 0;
  #stepLo = 0;
  #stepHi = 0;
  #n = 0;

  constructor(options: Partial<AdaptiveIntervalOptions> = {}) {
    this.options = { tail: 0.1, rate: 0.05, minSamples: 20, ...options };
  }

  /** Whether enough scores are in for calibrated intervals. */
  get ready(): boolean {
    return this.#n >= this.options.minSamples;
  }

  /** Replaces the score quantiles with those of recent validation origins. */
  refit(samples: readonly CalibrationSample[]): void {
    const lo = new Float64Array(samples.length);
    const hi = new Float64Array(samples.length);
    samples.forEach((s, i) => {
      const [bl, bh] = bases(s.p10, s.p50, s.p90);
      lo[i] = (bl - s.y) / s.scale;
      hi[i] = (s.y - bh) / s.scale;
    });
    lo.sort();
    hi.sort();
    this.#n = samples.length;
    const t = this.options.tail;
    this.#qLo = sortedQuantile(lo, 1 - t);
    this.#qHi = sortedQuantile(hi, 1 - t);
    const spread = (a: Float64Array): number =>
      Math.max(1e-3, sortedQuantile(a, 0.9) - sortedQuantile(a, 0.1));
    this.#stepLo = this.options.rate * spread(lo);
    this.#stepHi = this.options.rate * spread(hi);
  }

  /** The calibrated [p10, p50, p90] for a raw forecast; `nonNegative` clips at 0. */
  apply(
    p10: number,
    p50: number,
    p90: number,
    scale: number,
    nonNegative: boolean,
  ): [number, number, number] {
    const [bl, bh] = bases(p10, p50, p90);
    let lo = bl;
    let hi = bh;
    if (this.ready) {
      lo = bl - (this.#qLo + this.offsetLo) * scale;
      hi = bh + (this.#qHi + this.offsetHi) * scale;
    }
    const mid = nonNegative ? Math.max(0, p50) : p50;
    if (nonNegative) {
      lo = Math.max(0, lo);
      hi = Math.max(0, hi);
    }
    return [Math.min(lo, mid), mid, Math.max(hi, mid)];
  }

  /** Feeds back an outcome now known for an interval given earlier. */
  observe(y: number, lo: number, hi: number): void {
    if (!this.ready || !Number.isFinite(lo) || !Number.isFinite(hi)) return;
    const t = this.options.tail;
    this.offsetLo += this.#stepLo * ((y < lo ? 1 : 0) - t);
    this.offsetHi += this.#stepHi * ((y > hi ? 1 : 0) - t);
  }
}
