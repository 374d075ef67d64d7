/**
 * The hybrid combiner: a convex combination of member p50 forecasts (the
 * LSTM, the Bayesian network and the baselines) per horizon, with weights
 * fitted on validation origins (past forecasts whose actuals are known) by
 * minimising the absolute error, i.e. the WAPE the model is judged on.
 * Its interval comes from conformal calibration (see calibration.ts).
 */

/** Weights on the probability simplex minimising mean |y - sum_m w_m f_m|. */
export function fitSimplexL1(members: readonly Float64Array[], y: Float64Array, iterations = 150): number[] {
  const m = members.length;
  const n = y.length;
  if (m === 0) return [];
  if (n === 0) return members.map(() => 1 / m);
  let ybar = 0;
  for (let i = 0; i < n; i++) ybar += Math.abs(y[i]!);
  ybar = ybar / n || 1;
  const loss = (w: readonly number[]): number => {
    let s = 0;
    for (let i = 0; i < n; i++) {
      let f = 0;
      for (let k = 0; k < m; k++) f += w[k]! * members[k]![i]!;
      s += Math.abs(f - y[i]!);
    }
    return s;
  };
  // Start from the best single member, then exponentiated gradient
  // (Kivinen & Warmuth 1997) with a decaying step, keeping the best iterate.
  let best = members.map(() => 1 / m);
  let bestLoss = loss(best);
  for (let k = 0; k < m; k++) {
    const v = members.map((_, j) => (j === k ? 1 : 0));
    const l = loss(v);
    if (l < bestLoss) {
      bestLoss = l;
      best = v;
    }
  }
  let w = members.map((_, k) => 0.5 * best[k]! + 0.5 / m);
  const g = new Float64Array(m);
  for (let t = 0; t < iterations; t++) {
    g.fill(0);
    let l = 0;
    for (let i = 0; i < n; i++) {
      let f = 0;
      for (let k = 0; k < m; k++) f += w[k]! * members[k]![i]!;
      const d = f - y[i]!;
      l += Math.abs(d);
      const s = Math.sign(d);
      for (let k = 0; k < m; k++) g[k]! += s * members[k]![i]!;
    }
    if (l < bestLoss) {
      bestLoss = l;
      best = w;
    }
    const eta = 2 / Math.sqrt(t + 1);
    const next = w.map((wk, k) => wk * Math.exp((-eta * g[k]!) / (n * ybar)));
    const z = next.reduce((a, b) => a + b, 0);
    w = next.map((x) => x / z);
  }
  if (loss(w) < bestLoss) best = w;
  return best;
}

function l1(f: Float64Array, y: Float64Array): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += Math.abs(f[i]! - y[i]!);
  return s;
}

function combineAll(w: readonly number[], f: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(f[0]?.length ?? 0);
  w.forEach((wk, k) => {
    if (wk !== 0) for (let i = 0; i < out.length; i++) out[i]! += wk * f[k]![i]!;
  });
  return out;
}

/** Weights of a combination rule fitted on `(f, y)`. */
function ruleWeights(rule: string, f: readonly Float64Array[], y: Float64Array): number[] {
  if (rule === 'simplex') return fitSimplexL1(f, y);
  const k = Number(rule.slice(3));
  const order = f.map((a, m) => [l1(a, y), m] as const).sort((a, b) => a[0] - b[0]);
  const w = f.map(() => 0);
  for (const [, m] of order.slice(0, k)) w[m] = 1 / k;
  return w;
}

/** Per-horizon combination weights over named members. */
export class HybridCombiner {
  readonly members: readonly string[];
  /** `weights[h][m]`: weight of member m at horizon index h. */
  weights: number[][];
  /** The rule chosen per horizon: 'simplex' or 'topK'. */
  rules: string[] = [];

  constructor(members: readonly string[], horizonCount: number) {
    this.members = members;
    this.weights = Array.from({ length: horizonCount }, () => members.map(() => 1 / members.length));
  }

  /**
   * Fits horizon `h`'s weights: `f[m][i]` is member m's p50 for validation
   * sample i (in time order), `y[i]` its actual. Samples with a non-finite
   * forecast are skipped. The rule itself is chosen out of sample: free
   * simplex weights or the plain mean of the k best members (k = 1..4, the
   * robust choice of the "forecast combination puzzle") are fitted on the
   * first two thirds, scored on the last third, and the winner is refitted
   * on all samples.
   */
  fitHorizon(h: number, f: readonly Float64Array[], y: Float64Array): void {
    const keep: number[] = [];
    for (let i = 0; i < y.length; i++) if (f.every((a) => Number.isFinite(a[i]!))) keep.push(i);
    if (keep.length < 10) return;
    const pick = (a: Float64Array, from = 0, to = keep.length): Float64Array =>
      Float64Array.from(keep.slice(from, to), (i) => a[i]!);
    const cut = Math.floor((keep.length * 2) / 3);
    const rules = ['simplex', ...[1, 2, 3, 4].filter((k) => k <= f.length).map((k) => `top${k}`)];
    let bestRule = rules[0]!;
    let bestLoss = Infinity;
    if (cut >= 10 && keep.length - cut >= 5) {
      const fitF = f.map((a) => pick(a, 0, cut));
      const fitY = pick(y, 0, cut);
      const testF = f.map((a) => pick(a, cut));
      const testY = pick(y, cut);
      for (const rule of rules) {
        const l = l1(combineAll(ruleWeights(rule, fitF, fitY), testF), testY);
        if (l < bestLoss) {
          bestLoss = l;
          bestRule = rule;
        }
      }
    }
    this.rules[h] = bestRule;
    this.weights[h] = ruleWeights(
      bestRule,
      f.map((a) => pick(a)),
      pick(y),
    );
  }

  /** The combined p50 from the members' p50 values (in `members` order). */
  combine(h: number, p50s: readonly number[]): number {
    const w = this.weights[h]!;
    let s = 0;
    let wsum = 0;
    for (let k = 0; k < w.length; k++) {
      const v = p50s[k]!;
      if (Number.isFinite(v)) {
        s += w[k]! * v;
        wsum += w[k]!;
      }
    }
    if (wsum > 0) return s / wsum;
    // Every weighted member is missing: fall back on the mean of the others.
    const live = p50s.filter((v) => Number.isFinite(v));
    return live.length > 0 ? live.reduce((a, b) => a + b, 0) / live.length : Number.NaN;
  }

  /**
   * The combined spread: the weighted mean, over members that give
   * quantiles, of their p10 and p90 offsets from their own p50. NaN when no
   * member gives quantiles (the interval then comes from residuals alone).
   */
  spread(
    h: number,
    p10s: readonly number[],
    p50s: readonly number[],
    p90s: readonly number[],
  ): [number, number] {
    const w = this.weights[h]!;
    let lo = 0;
    let hi = 0;
    let wsum = 0;
    for (let k = 0; k < w.length; k++) {
      if (!Number.isFinite(p10s[k]!) || !Number.isFinite(p90s[k]!) || !Number.isFinite(p50s[k]!)) continue;
      // A small floor keeps quantile members in play even at zero weight.
      const wk = w[k]! + 1e-3;
      lo += wk * (p10s[k]! - p50s[k]!);
      hi += wk * (p90s[k]! - p50s[k]!);
      wsum += wk;
    }
    return wsum > 0 ? [lo / wsum, hi / wsum] : [Number.NaN, Number.NaN];
  }

  /** Weights as a plain object, for reports: `{rule: [per horizon], member: [w per horizon]}`. */
  toJSON(): Record<string, (number | string)[]> {
    const out: Record<string, (number | string)[]> = { rule: [...this.rules] };
    this.members.forEach((m, k) => (out[m] = this.weights.map((w) => Number(w[k]!.toFixed(4)))));
    return out;
  }
}
