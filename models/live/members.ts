/**
 * The statistical members of the live model zoo: small recursions over a
 * token's history that need no training and no stored state, so a token
 * gets them from its first request. Live serving runs them over the history
 * the cadence sends (at most a few hundred slots) and reads the forecast at
 * the last slot; the offline evaluation (bench/forecast-live.ts) runs the
 * same code once over a whole trace and reads every origin, so what it
 * scores is what a node serves.
 *
 * - `naive`: the last value.
 * - `ewma-fast`, `ewma-slow`: exponentially weighted moving averages
 *   (alpha 0.3 and 0.03): a short and a long memory.
 * - `median`: the median of the last 60 slots. WAPE is an absolute error,
 *   which the median minimises: on spiky series (disk writes, network
 *   bytes) a robust level beats every mean-based recursion. It took the
 *   place of a medium EWMA (alpha 0.1), which the two others bracket: the
 *   swap was chosen on the first halves of the shared traces
 *   (bench/forecast-live.ts), and keeps the per-token state as it was.
 * - `holt`: Holt's linear method with a damped trend (Hyndman &
 *   Athanasopoulos, "Forecasting: Principles and Practice", 8.2), alpha 0.3,
 *   beta 0.05, phi 0.98: follows ramps.
 * - `seasonal`: seasonal naive (the value one season before the target
 *   slot), once the history holds a season plus the horizon; absent before.
 */

/** Names of the statistical members, in the order of their forecasts. */
export const STAT_MEMBERS = ['naive', 'ewma-fast', 'median', 'ewma-slow', 'holt', 'seasonal'] as const;
export type StatMember = (typeof STAT_MEMBERS)[number];

const EWMA_ALPHAS = [0.3, 0.03] as const;
/** Slots of the `median` member's window. */
const MEDIAN_SLOTS = 60;
const HOLT = { alpha: 0.3, beta: 0.05, phi: 0.98 } as const;

const dampedSums = new Map<number, number>();

/** phi + phi^2 + ... + phi^h: the damped trend's multiplier at horizon h (cached). */
function dampedSum(h: number): number {
  let s = dampedSums.get(h);
  if (s === undefined) {
    s = 0;
    let p = 1;
    for (let k = 1; k <= h; k++) s += p *= HOLT.phi;
    dampedSums.set(h, s);
  }
  return s;
}

/** The median of sorted numbers (NaN for none). */
function sortedMedian(s: ArrayLike<number>, n: number): number {
  if (n === 0) return Number.NaN;
  const k = n >> 1;
  return n % 2 === 1 ? s[k]! : (s[k - 1]! + s[k]!) / 2;
}

/** First index of sorted `s[0..n)` whose value is >= x. */
function lowerBound(s: Float64Array, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (s[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * `out[m][hi][o - from]` = member m's forecast (`STAT_MEMBERS` order) at
 * horizon `horizons[hi]` from origin o, for origins `from..to-1`; the
 * recursions start at `values[start]`. Origin o reads `values[start..o]`
 * only. `seasonal` is NaN where less than a season (`seasonSteps`, 0 = none)
 * of history precedes the target. Forecasts of non-negative series are
 * clipped at 0.
 */
export function statForecasts(
  values: ArrayLike<number>,
  start: number,
  from: number,
  to: number,
  horizons: readonly number[],
  seasonSteps: number,
): Float64Array[][] {
  const len = Math.max(0, to - from);
  const H = horizons.length;
  const out = STAT_MEMBERS.map(() => horizons.map(() => new Float64Array(len)));
  if (len === 0) return out;
  const phiSum = horizons.map((h) => dampedSum(h));
  const [a0, a1] = EWMA_ALPHAS;
  const { alpha, beta, phi } = HOLT;
  let e0 = values[start] ?? 0;
  let e1 = e0;
  let level = e0;
  let trend = 0;
  const m = seasonSteps >= 1 ? Math.round(seasonSteps) : 0;
  // The median's window, kept sorted: each slot inserts one value and drops the oldest.
  const win = new Float64Array(MEDIAN_SLOTS);
  let w = 0;
  for (let i = start; i < to; i++) {
    const v = values[i]!;
    e0 += a0 * (v - e0);
    e1 += a1 * (v - e1);
    if (w === MEDIAN_SLOTS) {
      const old = lowerBound(win, w, values[i - MEDIAN_SLOTS]!);
      win.copyWithin(old, old + 1, w--);
    }
    const at = lowerBound(win, w, v);
    win.copyWithin(at + 1, at, w++);
    win[at] = v;
    if (i > start) {
      const prev = level;
      level = alpha * v + (1 - alpha) * (prev + phi * trend);
      trend = beta * (level - prev) + (1 - beta) * phi * trend;
    }
    if (i < from) continue;
    const j = i - from;
    for (let hi = 0; hi < H; hi++) {
      const h = horizons[hi]!;
      out[0]![hi]![j] = v;
      out[1]![hi]![j] = e0;
      out[2]![hi]![j] = sortedMedian(win, w);
      out[3]![hi]![j] = e1;
      out[4]![hi]![j] = Math.max(0, level + phiSum[hi]! * trend);
      const lag = m > 0 ? i + h - Math.ceil(h / m) * m : -1;
      out[5]![hi]![j] = m > 0 && lag >= start ? values[lag]! : Number.NaN;
    }
  }
  return out;
}

/** Scratch of {@link statLatest}'s median (one call at a time). */
const medianScratch = new Float64Array(MEDIAN_SLOTS);

/**
 * The statistical members' forecasts at the last slot of `values`, written
 * to `out[m * H + hi]` (or a fresh array): the same recursions as
 * {@link statForecasts}, without its per-origin arrays (the serving path
 * runs this for every token every round).
 */
export function statLatest(
  values: ArrayLike<number>,
  horizons: readonly number[],
  seasonSteps: number,
  out = new Float64Array(STAT_MEMBERS.length * horizons.length),
): Float64Array {
  const n = values.length;
  const H = horizons.length;
  if (n === 0) return out.fill(Number.NaN, 0, STAT_MEMBERS.length * H);
  const [a0, a1] = EWMA_ALPHAS;
  const { alpha, beta, phi } = HOLT;
  let e0 = values[0]!;
  let e1 = e0;
  let level = e0;
  let trend = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    e0 += a0 * (v - e0);
    e1 += a1 * (v - e1);
    if (i > 0) {
      const prev = level;
      level = alpha * v + (1 - alpha) * (prev + phi * trend);
      trend = beta * (level - prev) + (1 - beta) * phi * trend;
    }
  }
  const m = seasonSteps >= 1 ? Math.round(seasonSteps) : 0;
  const last = values[n - 1]!;
  const win = medianScratch;
  const w = Math.min(n, MEDIAN_SLOTS);
  for (let k = 0; k < w; k++) win[k] = values[n - w + k]!;
  win.subarray(0, w).sort();
  const median = sortedMedian(win, w);
  for (let hi = 0; hi < H; hi++) {
    const h = horizons[hi]!;
    out[hi] = last;
    out[H + hi] = e0;
    out[2 * H + hi] = median;
    out[3 * H + hi] = e1;
    out[4 * H + hi] = Math.max(0, level + dampedSum(h) * trend);
    const lag = m > 0 ? n - 1 + h - Math.ceil(h / m) * m : -1;
    out[5 * H + hi] = m > 0 && lag >= 0 ? values[lag]! : Number.NaN;
  }
  return out;
}
