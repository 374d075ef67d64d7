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
 * A step is the total of several forecast slots (live: 1 s slots, 5 s
 * steps), and a slot's quantiles times the slots per step are not the
 * step's: a slot's median of sparse demand (most seconds empty) is 0 while
 * the step's total is not, and a slot's spread that is counting noise
 * shrinks over a step's independent slots. {@link stepTotals} plans the
 * step's total: its median is the slots' mean (never below the mean of the
 * token's recent samples), its spread the level's uncertainty (k times a
 * slot's) plus the counting noise (sqrt k times). A replay, whose slot is
 * the step, plans the forecast as it is.
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
import { Z90, horizonsForLead } from './provisioning.ts';
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
  /** The trend that lifted the plan most, per sample; null when none rose significantly. */
  trend: Trend | null;
}

/** Default significance a rising trend needs before it lifts a plan (about 1 % one-sided with 5 samples). */
export const TREND_MIN_T = 3;

/**
 * The trailing windows (seconds) a trend is fitted on: the shortest sees a
 * ramp's slope a few seconds after it starts (a longer one still averages it
 * with the flat seconds before), the longest finds a slow rise under noise.
 * A window is fitted on the samples it spans (at least 5): a replay whose
 * samples are minutes has none, as a live pool has no trend of its seconds
 * beyond these.
 */
export const TREND_WINDOWS_S: readonly number[] = [5, 10, 20];

/** Seconds of per-second demand a token sends its pool: the longest trend window. */
export const TREND_SECONDS = Math.max(...TREND_WINDOWS_S);

/** How a token's recent demand is sampled. */
export interface PlanOptions {
  /**
   * Length of one sample of the recent demand, and of one slot of the
   * forecast (ms): 1000 live (the forecasters' 1 s slots, the token's
   * seconds), the step in a replay. @default 1000
   */
  sampleMs?: number;
  /** Significance a rising trend needs before it lifts the plan. @default TREND_MIN_T */
  minT?: number;
}

/** The plan's sample length, checked. */
function sampleMsOf(o: PlanOptions): number {
  const ms = o.sampleMs ?? 1000;
  if (!(ms > 0 && Number.isFinite(ms))) throw invalidField('sampleMs', 'a positive number', o.sampleMs);
  return ms;
}

/**
 * `wants` (per step: each slot quantile times `stepMs / sampleMs` slots, as
 * tokens send them) as quantiles of the step's total. Identity when a step
 * is one slot (a replay) or less. Otherwise, per horizon and side, a slot's
 * spread s (its p50..p90 or p10..p50 distance over z90) splits into the
 * counting noise of a mean of mu requests, c^2 = min(s^2, mu) (Poisson), and
 * the rest, the level's uncertainty; over k independent slots the total's
 * spread is sqrt(k^2 (s^2 - c^2) + k c^2), between sqrt(k) and k times s.
 * The total's median is k mu, mu being the slot's median or, when higher,
 * the mean of `recent` (the token's last samples): the median of a sparse
 * slot (most seconds empty) is 0, the mean of its total is not. NaN sides
 * (a point forecast) stay NaN.
 */
export function stepTotals(
  wants: PoolWants,
  recent: readonly number[],
  stepMs: number,
  o: PlanOptions = {},
): PoolWants {
  if (!(stepMs > 0)) throw invalidField('stepMs', 'a positive number', stepMs);
  const k = stepMs / sampleMsOf(o);
  if (!(k > 1)) return wants;
  const mean = recent.length > 0 ? recent.reduce((a, b) => a + b, 0) / recent.length : 0;
  const p10: number[] = [];
  const p50: number[] = [];
  const p90: number[] = [];
  wants.horizons.forEach((_, i) => {
    const q50 = (wants.p50[i] ?? Number.NaN) / k;
    const mu = Math.max(Number.isFinite(q50) ? q50 : 0, mean, 0);
    const side = (q: number | undefined, sign: number): number => {
      const v = (q ?? Number.NaN) / k;
      if (!Number.isFinite(v)) return Number.NaN;
      const s = Number.isFinite(q50) ? Math.max(0, sign * (v - q50)) / Z90 : 0;
      const c2 = Math.min(s * s, mu);
      const total = Math.sqrt(k * k * (s * s - c2) + k * c2);
      return Math.max(0, k * mu + sign * Z90 * total);
    };
    p50.push(k * mu);
    p10.push(side(wants.p10[i], -1));
    p90.push(side(wants.p90[i], 1));
  });
  return { horizons: wants.horizons, p10, p50, p90 };
}

/**
 * Lifts `wants` (per step of `stepMs`, horizons in steps) to the trend of
 * `recent`, a token's requests in its last complete samples of `sampleMs`
 * (seconds live; oldest first, the last one ending when the wants were
 * sent). A line is fitted on each trailing window of {@link TREND_WINDOWS_S}
 * seconds that the samples fill (at least 5 samples); a line rising with a slope at
 * least `minT` standard errors above zero, extended to the end of the step
 * each horizon names, is a floor for the median there: where it is above,
 * the three quantiles move up by the difference (the forecast's spread is
 * kept), and of several windows the highest floor counts. Never lowers a
 * forecast.
 */
export function liftByTrend(
  wants: PoolWants,
  recent: readonly number[],
  stepMs: number,
  o: PlanOptions = {},
): Lifted {
  if (!(stepMs > 0)) throw invalidField('stepMs', 'a positive number', stepMs);
  const minT = o.minT ?? TREND_MIN_T;
  /** Samples per step. */
  const k = stepMs / sampleMsOf(o);
  const up = wants.horizons.map(() => 0);
  let best: Trend | null = null;
  let bestLift = 0;
  const perSample = sampleMsOf(o) / 1000;
  const sizes = new Set(
    TREND_WINDOWS_S.map((w) => Math.min(Math.floor(w / perSample), recent.length)).filter((n) => n >= 5),
  );
  for (const n of sizes) {
    const trend = trendOf(recent.slice(recent.length - n));
    if (trend === null || !(trend.slope > 0) || !(trend.t >= minT)) continue;
    let lift = 0;
    wants.horizons.forEach((h, i) => {
      // Samples from the middle of the last one to the end of the step h steps on: on a rise,
      // units decided for a step must last to its end.
      const ahead = h * k + 0.5;
      const line = (trend.level + trend.slope * ahead) * k;
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
 * One token's wants as its pool plans on them, live and in a replay alike:
 * read at the pool's planning horizons ({@link planHorizons}, ending at
 * `leadSteps + 1`), as the step's total ({@link stepTotals}: its mean for
 * sparse demand) and lifted to the trend of its recent demand
 * ({@link liftByTrend}). `recent` is the token's requests in its last
 * samples of `o.sampleMs`, oldest first.
 */
export function planWants(
  wants: PoolWants,
  leadSteps: number,
  recent: readonly number[],
  stepMs: number,
  o: PlanOptions = {},
): Lifted {
  const totals = stepTotals(wantsAt(wants, planHorizons(leadSteps)), recent, stepMs, o);
  return liftByTrend(totals, recent, stepMs, o);
}
