import { invalidField } from '../errors.ts';
import { compileOptionsObject, optFiniteAtLeast } from '../options.ts';
import type { OptionParser, OptionSchema } from '../options.ts';
import { leadHorizon, unitsForWants } from './policy.ts';
import type { CapacityPolicy, PolicyObservation } from './policy.ts';
import { normalQuantile, unitsFor } from './provisioning.ts';
import { QuantileRegressionFit } from './quantile-regression.ts';

// Quantile regression averaging (Nowotarski and Weron 2015, after Koenker
// and Bassett 1978): the pool learns, from its own history, a linear map
// from what it knows at a decision (its recent demand and the summed
// forecast of its tokens) to a quantile of the demand a lead later, and
// holds units for it. Where the forecast's band is too narrow or too wide
// at the pool's scale, or the demand is a few requests a step (counting
// noise the forecast's band does not describe), the map corrects it; the
// quantile policy reads the band as given.

/** Number of features of a {@link QraFeatures} row. */
export const QRA_FEATURES = 12;

/**
 * The features of a pool's decisions, step by step: after `push` of the
 * step that just ended (t), a row for the demand at t + L (L = lead + 1):
 * a constant; the demand of t, t - 1, t - 2; its means over the last L, 4L
 * and 16L steps and the last day; its peak over the last 4L; the forecast's
 * p50 and p90 at the lead horizon (the demand of t where there is none);
 * and the demand a day before t + L. Windows longer than what it has seen
 * cover what it has seen (the lags before the first step read the first),
 * and until it has seen the step a day before t + L that feature reads the
 * mean of what it has seen, so a young pool's rows mean what an old one's
 * do. A row reads nothing after t.
 */
export class QraFeatures {
  readonly lead: number;
  readonly day: number;
  readonly #ring: Float64Array;
  readonly #windows: number[];
  readonly #sums: number[];
  #pos = -1;
  #seen = 0;

  constructor(leadSteps: number, stepMs: number) {
    if (!(Number.isInteger(leadSteps) && leadSteps >= 0))
      throw invalidField('leadSteps', 'an integer >= 0', leadSteps);
    if (!(Number.isFinite(stepMs) && stepMs > 0)) throw invalidField('stepMs', 'a number > 0', stepMs);
    this.lead = leadSteps + 1;
    this.day = Math.max(1, Math.round(86_400_000 / stepMs));
    const L = this.lead;
    this.#windows = [L, 4 * L, 16 * L, this.day];
    this.#sums = this.#windows.map(() => 0);
    this.#ring = new Float64Array(Math.max(this.day, 16 * L) + L + 1);
  }

  /** The demand `k` steps before the last pushed (the first seen, further back than that). */
  #back(k: number): number {
    const n = this.#ring.length;
    const j = Math.min(k, this.#seen - 1);
    return this.#ring[(((this.#pos - j) % n) + n) % n]!;
  }

  /** Records the demand of the step that just ended and returns its row (a new array). */
  push(demand: number, p50: number, p90: number): Float64Array {
    const d = Number.isFinite(demand) && demand > 0 ? demand : 0;
    // The value each full window drops is read before the ring moves on.
    this.#windows.forEach((k, i) => (this.#sums[i]! += d - (this.#seen >= k ? this.#back(k - 1) : 0)));
    this.#pos = (this.#pos + 1) % this.#ring.length;
    this.#ring[this.#pos] = d;
    this.#seen++;
    const L = this.lead;
    let peak = 0;
    for (let k = 0; k < Math.min(4 * L, this.#seen); k++) peak = Math.max(peak, this.#back(k));
    const m50 = Number.isFinite(p50) ? p50 : d;
    const m90 = Number.isFinite(p90) ? Math.max(p90, m50) : m50;
    const row = new Float64Array(QRA_FEATURES);
    row[0] = 1;
    row[1] = d;
    row[2] = this.#back(1);
    row[3] = this.#back(2);
    for (let i = 0; i < 4; i++) row[4 + i] = this.#sums[i]! / Math.min(this.#windows[i]!, this.#seen);
    row[8] = peak;
    row[9] = m50;
    row[10] = m90;
    row[11] = this.#seen > this.day - L ? this.#back(this.day - L) : row[7]!;
    return row;
  }
}

/** Options of {@link QraPolicy}. */
export interface QraOptions {
  /** Quantile of the demand a lead ahead it holds units for. @default 0.9 */
  quantile: number;
  /** Decisions whose outcome is known it fits on, the latest. @default 20000 */
  maxRows: number;
  /**
   * Known outcomes, in leads, before its first fit (it fits once it has
   * seen `minRows x (lead + 1)` decisions' outcomes: outcomes of decisions
   * less than a lead apart overlap); until then it decides as the quantile
   * policy. @default 200
   */
  minRows: number;
}

/** Passes of a fit (weighted least-squares solves, {@link QuantileRegressionFit}). */
const FIT_PASSES = 25;

/**
 * Rows times passes one decision may spend on a fit (about 2-4 ms here):
 * a fit of 20,000 rows spreads over 3 decisions, so a live pool's tick
 * never holds its node's thread (the check path's) for a whole fit
 * (100-200 ms). Smaller fits end in the decision that starts them.
 */
const ROW_PASSES_PER_DECISION = 200_000;

/** A fresh copy of the defaults. */
export function defaultQraOptions(): QraOptions {
  return { quantile: 0.9, maxRows: 20_000, minRows: 200 };
}

const optQuantile: OptionParser<number> = (v, field) => {
  if (typeof v !== 'number' || !(v > 0 && v < 1)) throw invalidField(field, 'a number in (0, 1)', v);
  return v;
};
const optCount: OptionParser<number> = (v, field) => {
  const n = optFiniteAtLeast(20)(v, field);
  if (!Number.isInteger(n)) throw invalidField(field, 'an integer >= 20', v);
  return n;
};
const SCHEMA: OptionSchema<QraOptions> = { quantile: optQuantile, maxRows: optCount, minRows: optCount };

/**
 * Holds units for the `quantile` of the demand a lead ahead, read off a
 * linear quantile regression of its own history ({@link QraFeatures}): the
 * rows of its decisions whose outcome it has seen, refitted as they grow
 * (first at `minRows` leads' worth, then each time they grew by a quarter,
 * and every `maxRows / 4` decisions once capped), a few passes of the fit
 * per decision, on the rows as they were when it started. Until the first
 * fit it decides as the quantile policy on the forecast's band. It reads
 * only its observations, so a replay and a live pool run it alike.
 */
export class QraPolicy implements CapacityPolicy {
  readonly name = 'qra';
  readonly options: Readonly<QraOptions>;
  readonly #z: number;
  #features: QraFeatures | undefined;
  /** Rows waiting for their outcome, oldest first (L of them once running). */
  readonly #pending: Float64Array[] = [];
  #X: Float64Array[] = [];
  #y: Float64Array;
  #rows = 0;
  #next = 0;
  #sinceFit = 0;
  #fittedOn = 0;
  #coefficients: Float64Array | undefined;
  #fit: QuantileRegressionFit | undefined;
  #level = Number.NaN;

  /** @throws InputError (code InvalidOptions) for an unknown option or a bad value, naming each */
  constructor(options: Partial<QraOptions> = {}) {
    this.options = compileOptionsObject('qra', SCHEMA, defaultQraOptions(), options);
    if (this.options.minRows > this.options.maxRows)
      throw invalidField('qra.minRows', `at most maxRows (${this.options.maxRows})`, this.options.minRows);
    this.#z = normalQuantile(this.options.quantile);
    this.#y = new Float64Array(this.options.maxRows);
  }

  /** The fitted coefficients (of {@link QraFeatures} rows); undefined before the first fit. */
  get coefficients(): Float64Array | undefined {
    return this.#coefficients;
  }

  /** Decisions whose outcome it has seen and keeps (at most `maxRows`). */
  get rows(): number {
    return this.#rows;
  }

  /** The demand level its last decision held units for; NaN before its first fit. */
  get level(): number {
    return this.#level;
  }

  /** Whether a fit started at an earlier decision is still running. */
  get fitting(): boolean {
    return this.#fit !== undefined;
  }

  decide(obs: PolicyObservation): number {
    const f = (this.#features ??= new QraFeatures(obs.leadSteps, obs.stepMs));
    const i = leadHorizon(obs.wants, obs.leadSteps);
    const row = f.push(obs.demand, obs.wants.p50[i] ?? Number.NaN, obs.wants.p90[i] ?? Number.NaN);
    // The row made L steps ago forecast the step that just ended.
    if (this.#pending.length === f.lead) this.#learn(this.#pending.shift()!, row[1]!);
    this.#pending.push(row);
    const o = this.options;
    const grown = this.#sinceFit >= Math.max(o.minRows, Math.ceil(this.#fittedOn / 4));
    const enough = this.#rows >= Math.min(o.maxRows, o.minRows * f.lead);
    if (this.#fit === undefined && enough && (this.#coefficients === undefined || grown)) {
      // On the rows as they are now: the ring replaces rows, it never changes one.
      const n = this.#rows;
      this.#fit = new QuantileRegressionFit(this.#X.slice(0, n), this.#y.slice(0, n), o.quantile, FIT_PASSES);
      this.#fittedOn = n;
      this.#sinceFit = 0;
    }
    if (this.#fit !== undefined) {
      const fit = this.#fit;
      for (let spent = 0; !fit.done && spent < ROW_PASSES_PER_DECISION; spent += this.#fittedOn) fit.step();
      if (fit.done) {
        this.#coefficients = fit.coefficients;
        this.#fit = undefined;
      }
    }
    const b = this.#coefficients;
    if (b === undefined) return unitsForWants(obs.wants, obs.unitCapacity, this.#z);
    let level = 0;
    for (let k = 0; k < QRA_FEATURES; k++) level += b[k]! * row[k]!;
    this.#level = Number.isFinite(level) ? Math.max(0, level) : 0;
    return unitsFor(this.#level, obs.unitCapacity);
  }

  #learn(row: Float64Array, outcome: number): void {
    const at = this.#next;
    this.#X[at] = row;
    this.#y[at] = outcome;
    this.#next = (at + 1) % this.options.maxRows;
    this.#rows = Math.min(this.#rows + 1, this.options.maxRows);
    this.#sinceFit++;
  }
}

/**
 * Feeds another policy the pool's own band: the 0.1, 0.5 and 0.9 levels of
 * three {@link QraPolicy} maps (of the demand a lead ahead), at every
 * horizon, in place of the tokens' summed forecast, once all three are
 * fitted (until then the forecast as it came). RL's actions scale a band
 * by z (lib levelAtZ); where the forecast's band does not describe the
 * pool's demand this one does. Chosen on bench/rl-holdout.ts: every target's
 * geo-mean improved on both tuning sets (synthetic and the shared traces'
 * first halves).
 */
export class QraBand implements CapacityPolicy {
  readonly name: string;
  readonly inner: CapacityPolicy;
  readonly #maps = [0.1, 0.5, 0.9].map((quantile) => new QraPolicy({ quantile }));

  constructor(inner: CapacityPolicy) {
    this.inner = inner;
    this.name = inner.name;
  }

  decide(obs: PolicyObservation): number {
    for (const m of this.#maps) m.decide(obs);
    const [q10, q50, q90] = this.#maps.map((m) => m.level) as [number, number, number];
    if (!Number.isFinite(q10 + q50 + q90)) return this.inner.decide(obs);
    const H = obs.wants.horizons.length;
    const band = (x: number): number[] => new Array<number>(H).fill(x);
    return this.inner.decide({
      ...obs,
      wants: {
        horizons: obs.wants.horizons,
        p10: band(Math.min(q10, q50)),
        p50: band(q50),
        p90: band(Math.max(q50, q90)),
      },
    });
  }
}
