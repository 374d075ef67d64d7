/**
 * A pool's memory of its own demand over the last season (a day by
 * default), and the seasonal-naive forecast it gives: the demand one season
 * before each planning horizon (seasonal naive: Hyndman & Athanasopoulos,
 * "Forecasting: Principles and Practice", 3rd ed., 5.2), averaged over a few
 * steps around it and scaled by how today's demand compares with the last
 * season's over the same recent hours.
 *
 * Kept per pool, on the pool's step totals: summed over the pool's tokens
 * and over a step, demand that is sparse per token and second (a day-old
 * second of one token is 0 or 1) is dense enough to have a shape, and a
 * day of 5 s steps is 17 280 numbers. It is what carries a daily ramp: the
 * tokens' forecasters see minutes of history, so on a slow morning ramp
 * they follow demand, while yesterday's morning says where it goes next.
 * {@link seasonalLift} makes it a floor under the pool's forecast.
 */
import { invalidField } from '../errors.ts';
import type { PoolWants } from './policy.ts';

/** Settings of a {@link SeasonalProfile}. */
export interface SeasonalOptions {
  /** Steps over which today's level is compared with the last season's. @default seasonSteps / 12 (two hours of a day) */
  levelSteps?: number;
  /**
   * Steps either side of a target over which the last season's median is
   * taken, and how far from the target its highest is looked for (the
   * cycle's timing moves from day to day). @default seasonSteps / 48 (half an hour of a day), below half of levelSteps
   */
  smoothSteps?: number;
  /** The most today's level may be of the last season's. @default 4 */
  maxRatio?: number;
}

/** A {@link SeasonalProfile}'s memory in step order (see `snapshot`, `restore`). */
export interface SeasonalSnapshot {
  /** The step of the last value. */
  lastStep: number;
  /** Demand of steps `lastStep - values.length + 1` to `lastStep`; NaN where unknown. */
  values: Float64Array | Float32Array;
}

/** What a {@link SeasonalProfile} forecasts from a step. */
export interface SeasonalForecast {
  /**
   * Per horizon: the last season's demand around the target step (the
   * highest median of `2 smoothSteps + 1` steps centred `smoothSteps` before,
   * at and after it) times `ratio`; NaN where unknown.
   */
  values: number[];
  /** The median of today's last `levelSteps` steps over the last season's median of the same steps. */
  ratio: number;
}

export class SeasonalProfile {
  readonly seasonSteps: number;
  readonly levelSteps: number;
  readonly smoothSteps: number;
  readonly maxRatio: number;
  /** Demand of step `s` at `s mod size` when `#stamps` holds `s` there. */
  readonly #values: Float64Array;
  readonly #stamps: Float64Array;
  /** The latest step observed or restored; NaN before any. */
  #last = Number.NaN;

  constructor(seasonSteps: number, o: SeasonalOptions = {}) {
    if (!(Number.isInteger(seasonSteps) && seasonSteps >= 4))
      throw invalidField('seasonSteps', 'an integer >= 4', seasonSteps);
    this.seasonSteps = seasonSteps;
    this.levelSteps = o.levelSteps ?? Math.max(1, Math.round(seasonSteps / 12));
    // Capped below half the level window: a season of 24 to 29 steps rounds S / 48 up to 1 with a level window of 2.
    this.smoothSteps =
      o.smoothSteps ?? Math.min(Math.round(seasonSteps / 48), Math.ceil(this.levelSteps / 2) - 1);
    this.maxRatio = o.maxRatio ?? 4;
    if (!(Number.isInteger(this.levelSteps) && this.levelSteps >= 1 && this.levelSteps < seasonSteps))
      throw invalidField('levelSteps', `an integer from 1 to ${seasonSteps - 1}`, o.levelSteps);
    if (!(
      Number.isInteger(this.smoothSteps) &&
      this.smoothSteps >= 0 &&
      2 * this.smoothSteps < this.levelSteps
    ))
      throw invalidField(
        'smoothSteps',
        `an integer from 0 to ${Math.ceil(this.levelSteps / 2) - 1}`,
        o.smoothSteps,
      );
    if (!(this.maxRatio > 0)) throw invalidField('maxRatio', 'a positive number', o.maxRatio);
    // The oldest step read is a season and a level window back (and 2 smoothSteps < levelSteps).
    const size = seasonSteps + this.levelSteps;
    this.#values = new Float64Array(size);
    this.#stamps = new Float64Array(size).fill(Number.NaN);
  }

  /** Records the demand of step `step` (an index on the clock's step grid: time / stepMs). */
  observe(step: number, demand: number): void {
    if (!Number.isInteger(step)) throw invalidField('step', 'an integer step index', step);
    if (!(Number.isFinite(demand) && demand >= 0)) throw invalidField('demand', 'a number >= 0', demand);
    const i = this.#slot(step);
    this.#values[i] = demand;
    this.#stamps[i] = step;
    if (!(step <= this.#last)) this.#last = step;
  }

  /** The latest step observed or restored; NaN before any. */
  get lastStep(): number {
    return this.#last;
  }

  /** Steps of memory: a season and a level window (what a {@link SeasonalSnapshot} holds). */
  get size(): number {
    return this.#values.length;
  }

  /** How many of the memory's steps (the `size` up to the latest) hold a demand. */
  get knownSteps(): number {
    // A slot may still hold a step from before the window when the steps since skipped it.
    const from = this.#last - this.#values.length;
    let n = 0;
    for (const s of this.#stamps) if (s > from) n++;
    return n;
  }

  /**
   * The memory in step order, for a checkpoint: the `size` steps up to the
   * latest one observed, NaN where unknown; null before any step.
   */
  snapshot(): SeasonalSnapshot | null {
    if (Number.isNaN(this.#last)) return null;
    const n = this.#values.length;
    const values = new Float64Array(n);
    const first = this.#last - n + 1;
    for (let i = 0; i < n; i++) values[i] = this.at(first + i);
    return { lastStep: this.#last, values };
  }

  /**
   * Takes the known steps of `snap` (a snapshot of a profile of the same
   * size, e.g. the pool's previous manager's) where this memory knows
   * nothing newer: a step observed here since is kept, so restoring after
   * the first ticks loses nothing. Returns how many steps it took.
   * @throws InputError when `snap` is not of this profile's size or holds a negative or infinite demand.
   */
  restore(snap: SeasonalSnapshot): number {
    const n = this.#values.length;
    if (!Number.isSafeInteger(snap.lastStep))
      throw invalidField('lastStep', 'an integer step index', snap.lastStep);
    if (snap.values.length !== n)
      throw invalidField('values.length', `${n} (a season and a level window)`, snap.values.length);
    // Checked whole before any is taken: a bad snapshot leaves the memory as it was.
    for (const v of snap.values)
      if (!Number.isNaN(v) && !(Number.isFinite(v) && v >= 0))
        throw invalidField('values', 'demands >= 0 (NaN: unknown)', v);
    let taken = 0;
    let latest = Number.NaN;
    const first = snap.lastStep - n + 1;
    for (let k = 0; k < n; k++) {
      const v = snap.values[k]!;
      if (Number.isNaN(v)) continue;
      const step = first + k;
      const i = this.#slot(step);
      const had = this.#stamps[i]!;
      if (had >= step) continue;
      this.#values[i] = v;
      this.#stamps[i] = step;
      taken++;
      latest = step;
    }
    if (!(latest <= this.#last)) this.#last = latest;
    return taken;
  }

  #slot(step: number): number {
    const n = this.#values.length;
    return ((step % n) + n) % n;
  }

  /** The demand recorded for `step`, or NaN. */
  at(step: number): number {
    const i = this.#slot(step);
    return this.#stamps[i] === step ? this.#values[i]! : Number.NaN;
  }

  /**
   * From the end of step `step` (the last one observed): the forecast at
   * each of `horizons` (steps ahead), or null while less than a season (and
   * a level window) is known: at least half of the level window's steps
   * must be known both today and a season before, with demand then. A step
   * is known once observed; a pool observes only steps its tokens reported.
   */
  forecast(step: number, horizons: readonly number[]): SeasonalForecast | null {
    const S = this.seasonSteps;
    const today: number[] = [];
    const before: number[] = [];
    for (let i = 0; i < this.levelSteps; i++) {
      const a = this.at(step - i);
      const b = this.at(step - i - S);
      if (Number.isNaN(a) || Number.isNaN(b)) continue;
      today.push(a);
      before.push(b);
    }
    // Medians, not sums: a burst (a client catching up after a stall) in either window moves a
    // sum by a quarter, a median not at all.
    const was = median(before);
    if (2 * before.length < this.levelSteps || !(was > 0)) return null;
    const ratio = Math.min(this.maxRatio, median(today) / was);
    const w = this.smoothSteps;
    const values = horizons.map((h) => {
      // The last season around the target: the highest of the medians of the windows of 2w + 1
      // steps centred w before, at and w after it. A daily cycle comes a little earlier or later
      // each day, and a ramp due within minutes of the horizon is planned for; never a step past
      // the last one observed.
      const target = step + h - S;
      let best = Number.NaN;
      for (const c of w > 0 ? [target - w, target, target + w] : [target]) {
        const xs: number[] = [];
        for (let at = c - w; at <= Math.min(c + w, step); at++) {
          const v = this.at(at);
          if (!Number.isNaN(v)) xs.push(v);
        }
        const m = median(xs);
        if (!(m <= best)) best = m;
      }
      return ratio * best;
    });
    return { values, ratio };
  }
}

/** The median of `xs` (NaN for none); sorts `xs`. */
function median(xs: number[]): number {
  const n = xs.length;
  if (n === 0) return Number.NaN;
  xs.sort((a, b) => a - b);
  const k = n >> 1;
  return n % 2 === 1 ? xs[k]! : (xs[k - 1]! + xs[k]!) / 2;
}

/** What {@link seasonalLift} did. */
export interface SeasonalLifted {
  wants: PoolWants;
  /** How much the median rose at the last horizon (0 when it did not). */
  lift: number;
}

/**
 * Lifts the pool's summed `wants` to the seasonal forecast `seasonal` (per
 * horizon, as {@link SeasonalProfile.forecast}): where it is above the
 * median, the three quantiles move up by the difference (their spread is
 * kept). A floor: it never lowers a forecast, so a day busier than the last
 * is still the tokens' forecasters' to follow.
 */
export function seasonalLift(wants: PoolWants, seasonal: readonly number[]): SeasonalLifted {
  const up = wants.horizons.map((_, i) => {
    const s = seasonal[i];
    const p50 = wants.p50[i];
    if (s === undefined || !Number.isFinite(s)) return 0;
    return Math.max(0, s - (p50 !== undefined && Number.isFinite(p50) ? p50 : 0));
  });
  if (up.every((d) => d === 0)) return { wants, lift: 0 };
  const move = (q: readonly number[]) =>
    wants.horizons.map((_, i) => {
      const v = q[i];
      return v === undefined || !Number.isFinite(v) ? (v ?? Number.NaN) : v + up[i]!;
    });
  return {
    wants: {
      horizons: wants.horizons,
      p10: move(wants.p10),
      p50: wants.horizons.map((_, i) => {
        const v = wants.p50[i];
        return (v !== undefined && Number.isFinite(v) ? v : 0) + up[i]!;
      }),
      p90: move(wants.p90),
    },
    lift: up[up.length - 1] ?? 0,
  };
}
