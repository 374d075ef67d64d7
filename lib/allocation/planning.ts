/**
 * What a pool plans for: the demand one start-up lead plus one step ahead,
 * read off the forecasts the tokens send and lifted to follow the recent
 * trend of their actual demand.
 *
 * Units asked for at the end of step t serve from step `t + 1 + lead`, so a
 * decision must cover demand `lead + 1` steps ahead, and every step before
 * (a unit needed before new ones could be ready must not be released). The
 * forecasters answer at their own horizons (the node's `--forecast-horizons`,
 * 5 s, 30 s and 5 min by default), which rarely include `lead + 1` pool
 * steps exactly: {@link wantsAt} interpolates linearly between the two
 * horizons around each planning horizon, so a rising forecast gives a rising
 * plan, not the nearer (or the first later) horizon's flat value.
 *
 * A forecaster that lags a ramp (a mean, a model still learning the token)
 * would leave the pool a lead behind demand. {@link liftByTrend} raises the
 * plan to the straight line through the token's last seconds of actual
 * demand (sent per second with its wants, so a ramp shows within seconds,
 * not steps), extended to each horizon, when that line rises significantly
 * (its slope at least `minT` standard errors above zero). It only ever
 * raises: a falling trend releases units no sooner than the forecast says,
 * and noise on a flat token is not a trend.
 */
import { invalidField } from '../errors.ts';
import { horizonsForLead } from './provisioning.ts';
import type { PoolWants } from './policy.ts';

/**
 * The horizons (in steps) a pool with a start-up lead of `leadSteps` plans
 * for: 1, the middle, and `leadSteps + 1` (the first step new units serve).
 */
export function planHorizons(leadSteps: number): number[] {
  if (!(Number.isInteger(leadSteps) && leadSteps >= 0))
    throw invalidField('leadSteps', 'an integer >= 0', leadSteps);
  return horizonsForLead(leadSteps);
}

/**
 * When in each pool step (ms past a multiple of `stepMs` on the clock) the
 * tokens send their wants: just after the second that ends the step is
 * complete, so the demand they report is the step's.
 */
export const WANTS_AT_MS = 10;

/**
 * When in each step (ms past a multiple of `stepMs`) the pool decides: a
 * quarter step after the wants leave, at most a second, for them to arrive.
 * The owner answers the wants after this decision, with the leases it just
 * granted, so capacity decided for a ramp reaches the tokens in the same step.
 */
export function tickAtMs(stepMs: number): number {
  return WANTS_AT_MS + Math.min(1000, stepMs / 4);
}

/**
 * Milliseconds from `nowMs` to the next clock time `offsetMs` past a
 * multiple of `stepMs` (never 0): every node's pool ticks and token rounds
 * meet on one grid, whenever each started.
 */
export function untilStepPhase(nowMs: number, stepMs: number, offsetMs: number): number {
  if (!(stepMs > 0)) throw invalidField('stepMs', 'a positive number', stepMs);
  const d = (((offsetMs - nowMs) % stepMs) + stepMs) % stepMs;
  return d === 0 ? stepMs : d;
}

/** Linear interpolation of `ys` over increasing `xs` at `x`; flat beyond either end. */
function interpolate(xs: readonly number[], ys: readonly number[], x: number): number {
  const n = Math.min(xs.length, ys.length);
  if (n === 0) return Number.NaN;
  if (x <= xs[0]!) return ys[0]!;
  for (let i = 1; i < n; i++) {
    if (x <= xs[i]!) {
      const x0 = xs[i - 1]!;
      const x1 = xs[i]!;
      // Two forecasts at one horizon (horizons rounded to whole steps): the later one.
      if (x1 === x0) return ys[i]!;
      return ys[i - 1]! + ((ys[i]! - ys[i - 1]!) * (x - x0)) / (x1 - x0);
    }
  }
  return ys[n - 1]!;
}

/**
 * `wants` read at `horizons` (steps): each quantile linearly interpolated
 * between the two forecast horizons around it, held flat before the first
 * and after the last. The source horizons must be increasing (equal
 * neighbours allowed). A NaN quantile (a point forecast's p10/p90) stays NaN.
 */
export function wantsAt(wants: PoolWants, horizons: readonly number[]): PoolWants {
  const xs = wants.horizons;
  for (let i = 1; i < xs.length; i++)
    if (!(xs[i]! >= xs[i - 1]!)) throw invalidField('wants.horizons', 'increasing horizons', xs);
  const at = (q: readonly number[]): number[] => horizons.map((h) => interpolate(xs, q, h));
  return { horizons: [...horizons], p10: at(wants.p10), p50: at(wants.p50), p90: at(wants.p90) };
}

/** A least-squares line through recent demands (one per sample, oldest first). */
export interface Trend {
  /** Demand gained per sample. */
  slope: number;
  /** The line's value at the last sample (the fitted current level). */
  level: number;
  /** The slope over its standard error (Infinity for an exact line that rises). */
  t: number;
  samples: number;
}

/** The least-squares trend of `series` (at least 3 samples), or null. */
export function trendOf(series: readonly number[]): Trend | null {
  const n = series.length;
  if (n < 3) return null;
  const mx = (n - 1) / 2;
  const my = series.reduce((s, y) => s + y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (i - mx) ** 2;
    sxy += (i - mx) * (series[i]! - my);
  }
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  let sse = 0;
  for (let i = 0; i < n; i++) sse += (series[i]! - (intercept + slope * i)) ** 2;
  const se = Math.sqrt(sse / (n - 2) / sxx);
  // An exact line: infinitely significant when it moves at all (float noise aside).
  const t =
    se > 1e-12 * Math.max(1, Math.abs(my)) ? slope / se : slope === 0 ? 0 : Math.sign(slope) * Infinity;
  return { slope, level: intercept + slope * (n - 1), t, samples: n };
}

/** What {@link liftByTrend} did. */
export interface Lifted {
  wants: PoolWants;
  /** How much the median rose at the last horizon (requests per step; 0 when not lifted). */
  lift: number;
  /** The trend that lifted the plan most, per second; null when none rose significantly. */
  trend: Trend | null;
}

/** Default significance a rising trend needs before it lifts a plan (about 1 % one-sided with 5 samples). */
export const TREND_MIN_T = 3;

/**
 * The trailing windows (seconds) a trend is fitted on: the shortest sees a
 * ramp's slope a few seconds after it starts (a longer one still averages it
 * with the flat seconds before), the longest finds a slow rise under noise.
 */
export const TREND_WINDOWS_S: readonly number[] = [5, 10, 20];

/** Seconds of per-second demand a token sends its pool: the longest trend window. */
export const TREND_SECONDS = Math.max(...TREND_WINDOWS_S);

/**
 * Lifts `wants` (per step of `stepMs`, horizons in steps) to the trend of
 * `perSecond`, a token's requests in its last complete seconds (oldest
 * first, the last one ending when the wants were sent). A line is fitted on
 * each trailing window of {@link TREND_WINDOWS_S} that the samples fill (at
 * least 5 samples); a line rising with a slope at least `minT` standard
 * errors above zero, extended to the end of the step each horizon names,
 * is a floor for the median there: where it is above, the three
 * quantiles move up by the difference (the forecast's spread is kept), and
 * of several windows the highest floor counts. Never lowers a forecast.
 */
export function liftByTrend(
  wants: PoolWants,
  perSecond: readonly number[],
  stepMs: number,
  minT = TREND_MIN_T,
): Lifted {
  if (!(stepMs > 0)) throw invalidField('stepMs', 'a positive number', stepMs);
  const stepS = stepMs / 1000;
  const up = wants.horizons.map(() => 0);
  let best: Trend | null = null;
  let bestLift = 0;
  const sizes = new Set(TREND_WINDOWS_S.map((w) => Math.min(w, perSecond.length)).filter((n) => n >= 5));
  for (const n of sizes) {
    const trend = trendOf(perSecond.slice(perSecond.length - n));
    if (trend === null || !(trend.slope > 0) || !(trend.t >= minT)) continue;
    let lift = 0;
    wants.horizons.forEach((h, i) => {
      // Seconds from the middle of the last sample to the end of the step h steps on: on a rise,
      // units decided for a step must last to its end.
      const ahead = h * stepS + 0.5;
      const line = (trend.level + trend.slope * ahead) * stepS;
      const p50 = wants.p50[i] ?? 0;
      lift = Number.isFinite(p50) ? line - p50 : line;
      up[i] = Math.max(up[i]!, lift);
    });
    if (lift > bestLift) [best, bestLift] = [trend, lift];
  }
  if (up.every((d) => d === 0)) return { wants, lift: 0, trend: null };
  const move = (q: readonly number[], i: number): number => {
    const v = q[i];
    return v === undefined || !Number.isFinite(v) ? (v ?? Number.NaN) : v + up[i]!;
  };
  return {
    wants: {
      horizons: wants.horizons,
      p10: wants.horizons.map((_, i) => move(wants.p10, i)),
      // A median that was missing becomes the trend line itself.
      p50: wants.horizons.map((_, i) => (Number.isFinite(wants.p50[i]) ? wants.p50[i]! + up[i]! : up[i]!)),
      p90: wants.horizons.map((_, i) => move(wants.p90, i)),
    },
    lift: up[up.length - 1] ?? 0,
    trend: best,
  };
}

/**
 * One token's wants as its pool plans on them: read at the pool's planning
 * horizons ({@link planHorizons}, ending at `leadSteps + 1`) and lifted to
 * the trend of its recent per-second demand ({@link liftByTrend}).
 */
export function planWants(
  wants: PoolWants,
  leadSteps: number,
  perSecond: readonly number[],
  stepMs: number,
  minT = TREND_MIN_T,
): Lifted {
  return liftByTrend(wantsAt(wants, planHorizons(leadSteps)), perSecond, stepMs, minT);
}
