import { invalidField } from '../errors.ts';

/**
 * A linear quantile regression (the least pinball loss at `q` of y - X b),
 * by iteratively reweighted least squares: each pass solves the weighted
 * normal equations with weights q / |r| (or (1 - q) / |r|) of the last
 * residuals, |r| floored at 1 % of the mean |y| at first and 0.6 times that
 * at each pass after, down to 1e-8 of it. Features are scaled by
 * their mean magnitude inside, with a tiny ridge for collinear ones.
 */
export function fitQuantileRegression(
  X: readonly Float64Array[],
  y: Float64Array,
  q: number,
  passes = 40,
): Float64Array {
  if (!(q > 0 && q < 1)) throw invalidField('quantile', 'a number strictly between 0 and 1', q);
  if (X.length !== y.length || X.length === 0)
    throw invalidField('rows', `as many feature rows as targets (${y.length}), at least one`, X.length);
  const n = X.length;
  const p = X[0]!.length;
  const scale = new Float64Array(p);
  for (const x of X) for (let k = 0; k < p; k++) scale[k]! += Math.abs(x[k]!) / n;
  for (let k = 0; k < p; k++) scale[k] = scale[k]! > 0 ? scale[k]! : 1;
  let yAbs = 0;
  for (let i = 0; i < n; i++) yAbs += Math.abs(y[i]!) / n;
  // The floor on |r| shrinks pass by pass (a smoothed loss tightened towards the
  // pinball loss): a fixed floor leaves the extreme levels short of their optimum.
  let floor = Math.max(1e-12, 1e-2 * yAbs);
  const least = Math.max(1e-15, 1e-8 * yAbs);
  const w = new Float64Array(n).fill(1);
  let b = new Float64Array(p);
  for (let pass = 0; pass <= passes; pass++) {
    const A = Array.from({ length: p }, () => new Float64Array(p + 1));
    for (let i = 0; i < n; i++) {
      const x = X[i]!;
      const wi = w[i]!;
      for (let r = 0; r < p; r++) {
        const xr = (wi * x[r]!) / scale[r]!;
        const row = A[r]!;
        for (let c = r; c < p; c++) row[c]! += (xr * x[c]!) / scale[c]!;
        row[p]! += xr * y[i]!;
      }
    }
    let trace = 0;
    for (let r = 0; r < p; r++) trace += A[r]![r]!;
    for (let r = 0; r < p; r++) {
      A[r]![r]! += 1e-9 * trace;
      for (let c = 0; c < r; c++) A[r]![c] = A[c]![r]!;
    }
    const s = solve(A, p);
    b = s.map((v, k) => v / scale[k]!);
    for (let i = 0; i < n; i++) {
      const x = X[i]!;
      let pred = 0;
      for (let k = 0; k < p; k++) pred += b[k]! * x[k]!;
      const r = y[i]! - pred;
      w[i] = (r >= 0 ? q : 1 - q) / Math.max(Math.abs(r), floor);
    }
    floor = Math.max(least, floor * 0.6);
  }
  return b;
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
