/**
 * Online combination of forecasters per token and horizon, by their
 * realised error: exponentially weighted averaging (Littlestone & Warmuth
 * 1994; Cesa-Bianchi & Lugosi, "Prediction, Learning, and Games", 2.1) with
 * discounted losses, so the weights follow the best member and move back
 * after a regime switch. Member m's weight at horizon h is
 * `exp(-eta * (L[m] - min L) / ybar)`, where `L[m]` is its discounted sum
 * of absolute errors and `ybar` the discounted mean actual (scale-free).
 *
 * Errors are known only `h` slots after a forecast, so each horizon keeps
 * probes: the members' forecasts of one round, scored when their target
 * slot arrives in a later round's history. The band is the combined p50
 * plus empirical quantiles of its own relative residuals, tracked online
 * (stochastic gradient on the pinball loss, as in adaptive conformal
 * inference, Gibbs & Candès 2021), so p10/p90 cover what they say.
 *
 * The whole per-token state is one Float32Array (see {@link CombinerState})
 * of `H * (M + 5) + sum over h of K_h * (M + 3) + 3` numbers, K_h =
 * min(K, h, ceil(h / roundSteps) + 1): with 8 members, horizons 1, 6 and 12
 * and K = 12, 39 + 19 * 11 + 3 = 251 floats (1,004 bytes); with a node's 5,
 * 30 and 300 s on a 1 s grid, 361 (1,444), or 273 (1,092) given the node's
 * 5 s rounds (`roundSteps` 5). A zoo takes it only for tokens forecast in at
 * least two rounds (live-zoo.ts): a one-off user never pays for it.
 *
 * Dense probes: a horizon keeps a probe per origin (up to `probes`, 12: at
 * h = 300, one per 25 slots), each counting its share of a sample,
 * `samples * gap / h` (gap: slots since the horizon's previous probe; at
 * most 1), so a horizon learns `samples` (3) samples' worth per h slots
 * whatever the probe spacing or the round cadence; the discount per scored
 * probe is `discount ^ share`. A level-shift alarm (a two-sided CUSUM on
 * the first horizon's residuals) makes the longer horizons drop the probes
 * made before a shift and lean on the shorter horizons for h slots.
 *
 * Why these defaults, and every variant tried with its figures (issue 12):
 * docs/combiner-notes.md.
 */
import { invalidField } from '../../lib/index.ts';

/** Settings of an {@link OnlineCombiner}. */
export interface CombinerOptions {
  /** Member names, in the order of their forecasts. */
  members: readonly string[];
  /** Horizons in grid steps. */
  horizons: readonly number[];
  /** Learning rate of the exponential weights (on losses in units of the mean actual). @default 3.5 */
  eta: number;
  /** Discount of past losses per sample scored (1 = never forget). @default 0.982 */
  discount: number;
  /** Most probes per horizon (forecasts waiting for their target); a horizon h keeps at most h (see `roundSteps`). @default 12 */
  probes: number;
  /**
   * Slots between two of a token's rounds at the most frequent (a node's
   * cadence over its grid): a horizon h has at most ceil(h / roundSteps)
   * probes in flight, so it keeps min(probes, h, ceil(h / roundSteps) + 1),
   * one spare for a round that comes a slot early. With a node's 5 s rounds
   * on a 1 s grid, horizons 5, 30 and 300 keep 2, 7 and 12 probes instead of
   * 5, 12 and 12.
   * @default 1
   */
  roundSteps: number;
  /**
   * Samples' worth a horizon h learns per h slots: a probe counts
   * `samples * gap / h` of a sample (at most 1), gap the slots since the
   * horizon's previous probe, and discounts by `discount` to that power.
   * @default 3
   */
  samples: number;
  /** Step of the residual quantiles per scored probe. @default 0.05 */
  quantileRate: number;
  /**
   * CUSUM threshold of the level-shift alarm, in sigmas of the first
   * horizon's band (docs/combiner-notes.md, "Level shifts"); 0 turns the alarm off.
   * @default 40
   */
  shiftThreshold: number;
  /**
   * Pseudo-samples a horizon borrows from the next shorter one: its members'
   * mean excess loss there, counted this many times. Long horizons are
   * scored rarely (once per h / probes slots), so they start from what the
   * short ones learnt, and their own evidence outweighs it as it comes.
   * @default 25
   */
  borrow: number;
}

/** A fresh copy of the defaults (members and horizons apart). */
export function defaultCombinerOptions(): Omit<CombinerOptions, 'members' | 'horizons'> {
  return {
    eta: 3.5,
    discount: 0.982,
    probes: 12,
    roundSteps: 1,
    samples: 3,
    quantileRate: 0.05,
    borrow: 25,
    shiftThreshold: 40,
  };
}

/**
 * One token's combiner state: `stateSize` numbers of `s` from `off` (a
 * token's own array, or its place in a slab shared by many tokens, as the
 * live zoo keeps them). `base` is the slot the probes' origins count from
 * (so that float32 holds them exactly); the numbers pack, per horizon:
 * losses (M), discounted |actual| sum, discounted count, q10, q90 (relative
 * residual quantiles), the latest probe's origin (slot - base + 1, 0 for
 * none), then min(K, h) probes of (origin - base + 1 or 0 when empty, its
 * share of a sample, combined p50, M member p50s); after the horizons, the
 * level-shift detector's upward and downward CUSUMs and its latest alarm
 * (slot - base + 1, 0 for none).
 */
export interface CombinerState {
  base: number;
  s: Float32Array;
  off: number;
}

/** One horizon's served forecast. */
export interface CombinedPoint {
  p10: number;
  p50: number;
  p90: number;
}

/** Slots after which a token's base moves up, well inside float32's exact integers (2^24). */
const REBASE = 2 ** 22;

// z of the 10th / 90th percentile of a normal: the band before any residual is known.
const Z90 = 1.2816;

/** Level-shift CUSUM: each residual is clipped at this many sigmas, less a drift per slot (docs/combiner-notes.md). */
const SHIFT_CLIP = 50;
const SHIFT_DRIFT = 1;
/** For h slots after an alarm a longer horizon's own losses count this much of their value. */
const SHIFT_LEAN = 0.1;

/** Numbers per horizon before its probes: M losses, |actual| sum, count, q10, q90, latest probe's origin. */
const STATS = 5;
/** Numbers per probe before its M member forecasts: origin, share, combined p50. */
const PROBE = 3;

export class OnlineCombiner {
  readonly options: Readonly<CombinerOptions>;
  readonly #M: number;
  readonly #H: number;
  /** Probes per horizon, min(probes, h, ceil(h / roundSteps) + 1). */
  readonly #K: number[];
  /** Each horizon's offset in the state array, and the level-shift detector's after them. */
  readonly #at: number[];
  readonly #shift: number;
  /** Scratch of {@link weights} (one combiner serves every token, one call at a time). */
  readonly #prior: Float64Array;
  readonly #excess: Float64Array;

  constructor(options: Partial<CombinerOptions> & Pick<CombinerOptions, 'members' | 'horizons'>) {
    const o = { ...defaultCombinerOptions(), ...options };
    if (o.members.length === 0) throw invalidField('combiner.members', 'a non-empty list', o.members);
    if (!o.horizons.every((h) => Number.isSafeInteger(h) && h > 0))
      throw invalidField('combiner.horizons', 'positive integers', o.horizons);
    if (!(o.eta > 0)) throw invalidField('combiner.eta', 'a positive number', o.eta);
    if (!(o.discount > 0 && o.discount <= 1))
      throw invalidField('combiner.discount', 'in (0, 1]', o.discount);
    if (!(Number.isSafeInteger(o.probes) && o.probes > 0))
      throw invalidField('combiner.probes', 'a positive integer', o.probes);
    if (!(Number.isSafeInteger(o.roundSteps) && o.roundSteps > 0))
      throw invalidField('combiner.roundSteps', 'a positive integer', o.roundSteps);
    if (!(o.samples > 0)) throw invalidField('combiner.samples', 'a positive number', o.samples);
    if (!(o.quantileRate > 0 && o.quantileRate < 1))
      throw invalidField('combiner.quantileRate', 'in (0, 1)', o.quantileRate);
    if (!(o.borrow >= 0)) throw invalidField('combiner.borrow', 'a number >= 0', o.borrow);
    if (!(o.shiftThreshold >= 0))
      throw invalidField('combiner.shiftThreshold', 'a number >= 0', o.shiftThreshold);
    this.options = Object.freeze({ ...o, members: [...o.members], horizons: [...o.horizons] });
    this.#M = o.members.length;
    this.#H = o.horizons.length;
    this.#K = o.horizons.map((h) => Math.min(o.probes, h, Math.ceil(h / o.roundSteps) + 1));
    this.#at = [];
    let at = 0;
    for (const k of this.#K) {
      this.#at.push(at);
      at += this.#M + STATS + k * (this.#M + PROBE);
    }
    this.#shift = at;
    this.#prior = new Float64Array(this.#M);
    this.#excess = new Float64Array(this.#M);
  }

  /** Numbers per token. */
  get stateSize(): number {
    return this.#shift + 3;
  }

  /** Offset of probe k of horizon hi in a state from `off`. */
  #probe(off: number, hi: number, k: number): number {
    return off + this.#at[hi]! + this.#M + STATS + k * (this.#M + PROBE);
  }

  /**
   * A fresh state for a token first seen at slot `originSlot`; `spread` is
   * the relative spread of its history (std / mean) for the first band.
   */
  newState(originSlot: number, spread: number): CombinerState {
    const state = { base: originSlot, s: new Float32Array(this.stateSize), off: 0 };
    this.reset(state, originSlot, spread);
    return state;
  }

  /** Makes `state` fresh in place (see {@link newState}). */
  reset(state: CombinerState, originSlot: number, spread: number): void {
    const { s, off } = state;
    s.fill(0, off, off + this.stateSize);
    state.base = originSlot;
    const q = Number.isFinite(spread) && spread > 0 ? Z90 * spread : Z90;
    for (let hi = 0; hi < this.#H; hi++) {
      const b = off + this.#at[hi]! + this.#M;
      s[b + 2] = -q;
      s[b + 3] = q;
    }
  }

  /**
   * Scores the probes whose target slot lies in `values` (slot `startSlot`
   * is `values[0]`), then frees them; probes whose target has left the
   * history are dropped unscored. `scale` normalises the residuals.
   */
  observe(state: CombinerState, values: ArrayLike<number>, startSlot: number, scale: number): void {
    const { s, base, off } = state;
    const M = this.#M;
    const o = this.options;
    for (let hi = 0; hi < this.#H; hi++) {
      const h = o.horizons[hi]!;
      const b = off + this.#at[hi]!;
      for (let k = 0; k < this.#K[hi]!; k++) {
        const p = this.#probe(off, hi, k);
        if (s[p] === 0) continue;
        const target = base + s[p]! - 1 + h;
        const idx = target - startSlot;
        if (idx >= values.length) continue; // not known yet
        s[p] = 0;
        if (idx < 0) continue; // left the history unscored
        const y = values[idx]!;
        const share = s[p + 1]!;
        const comb = s[p + 2]!;
        const keep = share === 1 ? o.discount : o.discount ** share;
        // A member that had no forecast is charged the mean loss of those that had one: a
        // newcomer (a model just promoted, the seasonal member once a season exists) is
        // taken for an average member until its own errors arrive, not for the combination,
        // which is near the best member and would hand an unknown member a leader's weight.
        let sum = 0;
        let present = 0;
        for (let m = 0; m < M; m++) {
          const f = s[p + PROBE + m]!;
          if (!Number.isFinite(f)) continue;
          sum += Math.abs(y - f);
          present++;
        }
        const absent = present > 0 ? sum / present : Math.abs(y - comb);
        for (let m = 0; m < M; m++) {
          const f = s[p + PROBE + m]!;
          const loss = Number.isFinite(f) ? Math.abs(y - f) : absent;
          s[b + m] = keep * s[b + m]! + share * loss;
        }
        s[b + M] = keep * s[b + M]! + share * Math.abs(y);
        s[b + M + 1] = keep * s[b + M + 1]! + share;
        // Pinball-loss gradient step on the relative residual quantiles.
        const r = (y - comb) / Math.max(scale, 1e-9);
        if (hi === 0 && o.shiftThreshold > 0) this.#detect(state, r, b, startSlot + values.length - 1);
        // Step in proportion to the band's width, so it adapts at any level of noise.
        const g = share * o.quantileRate * Math.max(s[b + M + 3]! - s[b + M + 2]!, 1e-3);
        s[b + M + 2] = s[b + M + 2]! + g * ((r >= s[b + M + 2]! ? 1 : 0) - 0.9);
        s[b + M + 3] = s[b + M + 3]! + g * ((r >= s[b + M + 3]! ? 1 : 0) - 0.1);
      }
    }
  }

  /**
   * One step of the level-shift CUSUM on the first horizon's relative
   * residual `r` (its band at `b`); on an alarm at slot `now` the longer
   * horizons drop their waiting probes and start leaning on the shorter
   * ones (see {@link weights}).
   */
  #detect(state: CombinerState, r: number, b: number, now: number): void {
    const { s, off } = state;
    const M = this.#M;
    const c = off + this.#shift;
    const sigma = Math.max((s[b + M + 3]! - s[b + M + 2]!) / (2 * Z90), 1e-6);
    const z = Math.max(-SHIFT_CLIP, Math.min(SHIFT_CLIP, r / sigma));
    s[c] = Math.max(0, s[c]! + z - SHIFT_DRIFT);
    s[c + 1] = Math.max(0, s[c + 1]! - z - SHIFT_DRIFT);
    if (s[c]! <= this.options.shiftThreshold && s[c + 1]! <= this.options.shiftThreshold) return;
    s[c] = 0;
    s[c + 1] = 0;
    const at = now - state.base + 1;
    s[c + 2] = at >= 1 && at < 2 ** 24 ? at : 0;
    // Forecasts made before the shift and scored after it say who happened to be highest.
    for (let hi = 1; hi < this.#H; hi++)
      for (let k = 0; k < this.#K[hi]!; k++) s[this.#probe(off, hi, k)] = 0;
  }

  /**
   * Member weights at horizon index `hi` among the members with a forecast
   * (`present[m]`): exponential in each member's excess discounted loss
   * over the best, in units of the mean actual, plus what the shorter
   * horizons lend (see `borrow`). Given the round's `originSlot`, a longer
   * horizon less than h slots past a level-shift alarm weighs its own
   * losses by 0.1: they predate the shift.
   */
  weights(state: CombinerState, hi: number, present: readonly boolean[], originSlot?: number): Float64Array {
    const M = this.#M;
    const s = state.s;
    const { borrow, eta, horizons } = this.options;
    const alarm = s[state.off + this.#shift + 2]!;
    const since = alarm > 0 && originSlot !== undefined ? originSlot - (state.base + alarm - 1) : Infinity;
    const prior = this.#prior.fill(0);
    const e = this.#excess;
    for (let j = 0; j <= hi; j++) {
      const b = state.off + this.#at[j]!;
      const count = s[b + M + 1]!;
      const ybar = count > 0 ? s[b + M]! / count : 0;
      let min = Number.POSITIVE_INFINITY;
      for (let m = 0; m < M; m++) if (present[m]) min = Math.min(min, s[b + m]!);
      const own = j > 0 && since < horizons[j]! ? SHIFT_LEAN : 1;
      for (let m = 0; m < M; m++)
        e[m] = (ybar > 0 && present[m] ? (own * (s[b + m]! - min)) / ybar : 0) + prior[m]!;
      // The next horizon borrows this one's mean excess per sample, as `borrow` samples.
      for (let m = 0; m < M; m++) prior[m] = (e[m]! * borrow) / Math.max(count, borrow, 1);
    }
    let min = Number.POSITIVE_INFINITY;
    for (let m = 0; m < M; m++) if (present[m]) min = Math.min(min, e[m]!);
    const w = new Float64Array(M);
    let z = 0;
    for (let m = 0; m < M; m++) {
      if (!present[m]) continue;
      w[m] = Math.exp(-eta * (e[m]! - min));
      z += w[m]!;
    }
    if (z > 0) for (let m = 0; m < M; m++) w[m] = w[m]! / z;
    return w;
  }

  /**
   * Combines one round's member forecasts (`preds[m * H + hi]`, NaN where
   * a member has none) made at slot `originSlot`, and records them as a
   * probe where a horizon has room. `scale` turns the relative residual
   * quantiles into demand. Returns the served forecast per horizon and the
   * weights used (`weights[hi][m]`).
   */
  combine(
    state: CombinerState,
    originSlot: number,
    preds: Float64Array,
    scale: number,
  ): { points: CombinedPoint[]; weights: Float64Array[] } {
    const M = this.#M;
    const H = this.#H;
    const points: CombinedPoint[] = [];
    const weights: Float64Array[] = [];
    for (let hi = 0; hi < H; hi++) {
      const present: boolean[] = [];
      for (let m = 0; m < M; m++) present.push(Number.isFinite(preds[m * H + hi]!));
      const w = this.weights(state, hi, present, originSlot);
      let p50 = 0;
      for (let m = 0; m < M; m++) if (present[m]) p50 += w[m]! * preds[m * H + hi]!;
      p50 = Math.max(0, p50);
      const [lo, up] = this.#band(state, hi);
      points.push({
        p10: Math.max(0, Math.min(p50, p50 + lo * scale)),
        p50,
        p90: Math.max(p50, p50 + up * scale),
      });
      weights.push(w);
      this.#record(state, hi, originSlot, p50, preds);
    }
    return { points, weights };
  }

  /**
   * The relative residual quantiles (q10, q90) of horizon `hi`, each
   * horizon's own blended with the next shorter one's as `borrow`
   * pseudo-samples: a long horizon scored a few times yet starts from
   * the band the short ones learnt.
   */
  #band(state: CombinerState, hi: number): [number, number] {
    const { s, off } = state;
    const M = this.#M;
    const c = this.options.borrow;
    let lo = 0;
    let up = 0;
    for (let j = 0; j <= hi; j++) {
      const b = off + this.#at[j]! + M;
      const own = j === 0 ? 1 : s[b + 1]! / (s[b + 1]! + c);
      lo = own * s[b + 2]! + (1 - own) * lo;
      up = own * s[b + 3]! + (1 - own) * up;
    }
    return [lo, up];
  }

  /** Moves the base to `originSlot` (probe origins are float32 offsets from it); probes before it are dropped. */
  #rebase(state: CombinerState, originSlot: number): void {
    const { s, off } = state;
    const shift = originSlot - state.base;
    const move = (i: number): void => {
      if (s[i] !== 0) s[i] = Math.max(0, s[i]! - shift);
    };
    for (let hi = 0; hi < this.#H; hi++) {
      move(off + this.#at[hi]! + this.#M + 4);
      for (let k = 0; k < this.#K[hi]!; k++) move(this.#probe(off, hi, k));
    }
    move(off + this.#shift + 2);
    state.base = originSlot;
  }

  /**
   * Puts a probe for horizon `hi` when one is free and the latest is at
   * least h / K slots old; it counts `samples * gap / h` of a sample (at
   * most 1), gap the slots since the horizon's previous probe.
   */
  #record(state: CombinerState, hi: number, originSlot: number, p50: number, preds: Float64Array): void {
    const s = state.s;
    const M = this.#M;
    const H = this.#H;
    const K = this.#K[hi]!;
    const h = this.options.horizons[hi]!;
    if (originSlot - state.base >= REBASE) this.#rebase(state, originSlot);
    const at = originSlot - state.base + 1;
    if (!(at >= 1 && at < 2 ** 24)) return; // before the base: this probe is skipped
    let free = -1;
    let latest = Number.NEGATIVE_INFINITY;
    for (let k = 0; k < K; k++) {
      const p = this.#probe(state.off, hi, k);
      if (s[p] === 0) free = free < 0 ? k : free;
      else latest = Math.max(latest, s[p]!);
    }
    if (free < 0 || at - latest < h / K) return;
    const last = state.off + this.#at[hi]! + M + 4;
    // The first probe (or the first since a rebase) stands for its own origin only.
    const gap = s[last]! > 0 && s[last]! < at ? Math.min(at - s[last]!, h) : 1;
    s[last] = at;
    const p = this.#probe(state.off, hi, free);
    s[p] = at;
    s[p + 1] = Math.min(1, (this.options.samples * gap) / h);
    s[p + 2] = p50;
    for (let m = 0; m < M; m++) s[p + PROBE + m] = preds[m * H + hi]!;
  }
}
