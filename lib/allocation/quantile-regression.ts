import { invalidField } from '../errors.ts';

/**
 * A linear quantile regression (the least pinball loss at `q` of y - X b,
 * Koenker and Bassett 1978), by iteratively reweighted least squares: each
 * pass solves the weighted normal equations with weights q / |r| (or
 * (1 - q) / |r|) of the last pass's residuals, |r| floored at 1 % of the
 * mean |y| at first and 0.6 times that at each pass after, down to 1e-8 of
 * it (a smoothed loss tightened towards the pinball loss: a fixed floor
 * leaves the extreme levels short of their optimum). Features are scaled
 * by their mean magnitude inside, with a tiny ridge for collinear ones.
 * A pass at a time ({@link QuantileRegressionFit.step}), so a caller on a
 * busy thread can spread a fit over its turns; it reads `X` and `y` at
 * every pass, so they must not change until it is done.
 */
export class QuantileRegressionFit {
  readonly #X: readonly Float64Array[];
  readonly #y: Float64Array;
  readonly #q: number;
  readonly #passes: number;
  readonly #p: number;
  readonly #invScale: Float64Array;
  readonly #w: Float64Array;
  readonly #least: number;
  #floor: number;
  #pass = 0;
  #b: Float64Array;

  constructor(X: readonly Float64Array[], y: Float64Array, q: number, passes = 40) {
    if (!(q > 0 && q < 1)) throw invalidField('quantile', 'a number strictly between 0 and 1', q);
    if (X.length !== y.length || X.length === 0)
      throw invalidField('rows', `as many feature rows as targets (${y.length}), at least one`, X.length);
    if (!(Number.isInteger(passes) && passes >= 0)) throw invalidField('passes', 'an integer >= 0', passes);
    const n = X.length;
    const p = X[0]!.length;
    const scale = new Float64Array(p);
    for (const x of X) for (let k = 0; k < p; k++) scale[k]! += Math.abs(x[k]!) / n;
    this.#invScale = scale.map((v) => (v > 0 ? 1 / v : 1));
    let yAbs = 0;
    for (let i = 0; i < n; i++) yAbs += Math.abs(y[i]!) / n;
    this.#floor = Math.max(1e-12, 1e-2 * yAbs);
    this.#least = Math.max(1e-15, 1e-8 * yAbs);
    this.#X = X;
    this.#y = y;
    this.#q = q;
    this.#passes = passes;
    this.#p = p;
    this.#w = new Float64Array(n).fill(1);
    this.#b = new Float64Array(p);
  }

  /** Whether every pass has run. */
  get done(): boolean {
    return this.#pass > this.#passes;
  }

  /** The coefficients after the passes so far (zeros before the first). */
  get coefficients(): Float64Array {
    return this.#b;
  }

  /** Runs one pass (a weighted least-squares solve over every row); returns whether the fit is done. */
  step(): boolean {
    if (this.done) return true;
    const X = this.#X;
    const y = this.#y;
    const p = this.#p;
    const inv = this.#invScale;
    const w = this.#w;
    const A = Array.from({ length: p }, () => new Float64Array(p + 1));
    const xs = new Float64Array(p);
    for (let i = 0; i < X.length; i++) {
      const x = X[i]!;
      const wi = w[i]!;
      for (let k = 0; k < p; k++) xs[k] = x[k]! * inv[k]!;
      for (let r = 0; r < p; r++) {
        const xr = wi * xs[r]!;
        const row = A[r]!;
        for (let c = r; c < p; c++) row[c]! += xr * xs[c]!;
        row[p]! += xr * y[i]!;
      }
    }
    let trace = 0;
    for (let r = 0; r < p; r++) trace += A[r]![r]!;
    for (let r = 0; r < p; r++) {
      A[r]![r]! += 1e-9 * trace;
      for (let c = 0; c < r; c++) A[r]![c] = A[c]![r]!;
    }
    const b = solve(A, p).map((v, k) => v * inv[k]!);
    const q = this.#q;
    const floor = this.#floor;
    for (let i = 0; i < X.length; i++) {
      const x = X[i]!;
      let pred = 0;
      for (let k = 0; k < p; k++) pred += b[k]! * x[k]!;
      const r = y[i]! - pred;
      w[i] = (r >= 0 ? q : 1 - q) / Math.max(Math.abs(r), floor);
    }
    this.#floor = Math.max(this.#least, floor * 0.6);
    this.#b = b;
    this.#pass++;
    return this.done;
  }
}

/** {@link QuantileRegressionFit} run to the end: the coefficients after `passes + 1` solves. */
export function fitQuantileRegression(
  X: readonly Float64Array[],
  y: Float64Array,
  q: number,
  passes = 40,
): Float64Array {
  const fit = new QuantileRegressionFit(X, y, q, passes);
  while (!fit.step());
  return fit.coefficients;
}

/** Solves the augmented system `A` (p rows of p + 1) by Gaussian elimination with partial pivoting. */
function solve(A: Float64Array[], p: number): Float64Array {
  for (let c = 0; c < p; c++) {
    let best = c;
    for (let r = c + 1; r < p; r++) if (Math.abs(A[r]![c]!) > Math.abs(A[best]![c]!)) best = r;
    [A[c], A[best]] = [A[best]!, A[c]!];
    const piv = A[c]![c]!;
    if (piv === 0) continue;
    for (let r = c + 1; r < p; r++) {
      const f = A[r]![c]! / piv;
      if (f !== 0) for (let k = c; k <= p; k++) A[r]![k]! -= f * A[c]![k]!;
    }
  }
  const x = new Float64Array(p);
  for (let r = p - 1; r >= 0; r--) {
    let s = A[r]![p]!;
    for (let k = r + 1; k < p; k++) s -= A[r]![k]! * x[k]!;
    x[r] = A[r]![r]! !== 0 ? s / A[r]![r]! : 0;
  }
  return x;
}
