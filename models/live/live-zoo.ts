/**
 * The live model zoo: what a node serves for every token, from its first
 * request. Members: the statistical recursions of members.ts (naive, two
 * EWMAs, the median of the last 60 slots, damped Holt, seasonal
 * naive once a season of history exists: from `values` when they hold
 * one, else from the input's `season`, which the forecast round reads from
 * the token's one-minute buckets of the last day), the
 * global LSTM with per-token scaling and the Bayesian network's calendar
 * forecast when a model is loaded (pretrained or promoted). The
 * {@link OnlineCombiner} weighs them per token and horizon by their
 * realised error, so the served forecast follows the best member of each
 * token. Every token's small state lives here, in one slab keyed by token,
 * until the token is released (its actor passivated: see `release`).
 *
 * A token's combiner state (1,452 bytes with a node's 3 horizons: see
 * combiner.ts) is taken at its second forecast round, not its first: the
 * cadence forecasts a token in the rounds where it had requests, so a one-off
 * user is seen in one round and its first-round probes would never be
 * scored. Its first round is served from a fresh state, as before, in a
 * scratch state that is dropped; the map keeps only a marker. So a node under
 * one-off users holds no combiner state for them (it held 644 bytes each),
 * and a token that comes back starts learning one round later.
 */
import { DAY_MS } from '../../lib/index.ts';
import type { ModelSet, ServingForecast, ServingInput } from '../serving.ts';
import { ForecastSource } from '../serving.ts';
import { OnlineCombiner } from './combiner.ts';
import type { CombinerOptions, CombinerState } from './combiner.ts';
import { STAT_MEMBERS, statLatest } from './members.ts';

/** Every member of the live zoo, in the order of their forecasts. */
export const LIVE_MEMBERS = [...STAT_MEMBERS, 'lstm', 'bayes'] as const;
export type LiveMember = (typeof LIVE_MEMBERS)[number];

/** Settings of a {@link LiveZoo}. */
export interface LiveZooOptions {
  /** Horizons in grid steps. */
  horizons: readonly number[];
  /** The grid's step (ms). */
  stepMs: number;
  /** Season of the seasonal-naive member, in steps. @default a day */
  seasonSteps?: number;
  /** Slots of the level that scales the band and the Bayesian network. @default 60 */
  levelSlots?: number;
  /**
   * Steps between two rounds of a token at the most frequent (the cadence's
   * period over `stepMs`): each horizon then keeps only the probes that can
   * be in flight (combiner `roundSteps`). @default 1
   */
  roundSteps?: number;
  combiner?: Partial<Omit<CombinerOptions, 'members' | 'horizons'>>;
}

/** The seasonal-naive member's index. */
const SEASONAL = STAT_MEMBERS.indexOf('seasonal');

/** The map's value for a token seen in one round, which holds no slot yet. */
const SEEN_ONCE = -1;

/** Members whose weight stays under this at every horizon are left out of a reply's `weights`. */
const SHOWN_WEIGHT = 0.01;

function levelOf(v: ArrayLike<number>, slots: number): number {
  let s = 0;
  const from = Math.max(0, v.length - slots);
  for (let i = from; i < v.length; i++) s += v[i]!;
  return v.length > from ? s / (v.length - from) : 0;
}

/** std / mean of the values (0 for fewer than two, or a zero mean): a fresh state's first band. */
export function relativeSpread(v: ArrayLike<number>): number {
  const n = v.length;
  if (n < 2) return 0;
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    s += v[i]!;
    s2 += v[i]! * v[i]!;
  }
  const mu = s / n;
  return mu > 0 ? Math.sqrt(Math.max(0, s2 / n - mu * mu)) / mu : 0;
}

export class LiveZoo {
  readonly horizons: readonly number[];
  readonly stepMs: number;
  readonly seasonSteps: number;
  readonly combiner: OnlineCombiner;
  readonly #levelSlots: number;
  /**
   * Every token's combiner state in one slab (no typed array per token):
   * token -> slot, the slot's numbers at `slot * stateSize`, its base slot
   * in `#bases`; released slots are reused. A token seen in one round maps
   * to {@link SEEN_ONCE} and holds no slot.
   */
  readonly #slots = new Map<string, number>();
  /** Tokens mapped to {@link SEEN_ONCE}. */
  #seenOnce = 0;
  /** A first round's state, used and dropped. */
  readonly #scratch: CombinerState;
  #slab = new Float32Array(0);
  #bases = new Float64Array(0);
  #used = 0;
  readonly #free: number[] = [];
  readonly #view: CombinerState = { base: 0, s: this.#slab, off: 0 };

  constructor(options: LiveZooOptions) {
    this.horizons = [...options.horizons];
    this.stepMs = options.stepMs;
    this.seasonSteps = options.seasonSteps ?? Math.round(DAY_MS / options.stepMs);
    this.#levelSlots = options.levelSlots ?? 60;
    this.combiner = new OnlineCombiner({
      ...options.combiner,
      ...(options.roundSteps === undefined ? {} : { roundSteps: options.roundSteps }),
      members: LIVE_MEMBERS,
      horizons: this.horizons,
    });
    this.#scratch = { base: 0, s: new Float32Array(this.combiner.stateSize), off: 0 };
  }

  /** Tokens the zoo knows: those holding combiner state and those seen in one round only. */
  get size(): number {
    return this.#slots.size;
  }

  /** Tokens holding combiner state (a slab slot): those forecast in two rounds or more. */
  get held(): number {
    return this.#slots.size - this.#seenOnce;
  }

  /**
   * Slab slots ever taken, held or free: the slab's high-water mark, what
   * its memory follows. A released slot is reused before a new one is taken.
   */
  get slotsTaken(): number {
    return this.#used;
  }

  /** Bytes of combiner state per token in the slab (float32 numbers and the float64 base). */
  get bytesPerToken(): number {
    return this.combiner.stateSize * 4 + 8;
  }

  /**
   * Drops `token`'s state, its slot going back to the free list for the
   * next new token: O(1), called as the token's actor is passivated.
   * Returns whether the zoo knew it (held state or had seen it once).
   */
  release(token: string): boolean {
    const slot = this.#slots.get(token);
    if (slot === undefined) return false;
    this.#slots.delete(token);
    if (slot === SEEN_ONCE) this.#seenOnce--;
    else this.#free.push(slot);
    return true;
  }

  /**
   * Drops the state of every token `live` rejects; returns how many. A
   * consistency sweep, O(tokens held): `release` frees a passivated token's
   * state, this catches a token forecast again after it was released.
   */
  retain(live: (token: string) => boolean): number {
    let n = 0;
    for (const token of this.#slots.keys()) if (!live(token) && this.release(token)) n++;
    return n;
  }

  /**
   * The state `token`'s round works on, and whether it is fresh: a
   * scratch state in its first round (only a marker is kept), a slab slot
   * taken fresh in its second, its slot after that.
   */
  #open(token: string): [CombinerState, boolean] {
    let slot = this.#slots.get(token);
    if (slot === undefined) {
      this.#slots.set(token, SEEN_ONCE);
      this.#seenOnce++;
      return [this.#scratch, true];
    }
    const fresh = slot === SEEN_ONCE;
    if (fresh) {
      this.#seenOnce--;
      slot = this.#free.pop() ?? this.#used++;
      const size = this.combiner.stateSize;
      if ((slot + 1) * size > this.#slab.length) {
        const cap = Math.max(1024, 2 * (slot + 1));
        const slab = new Float32Array(cap * size);
        slab.set(this.#slab);
        const bases = new Float64Array(cap);
        bases.set(this.#bases);
        this.#slab = slab;
        this.#bases = bases;
      }
      this.#slots.set(token, slot);
    }
    const v = this.#view;
    v.s = this.#slab;
    v.off = slot * this.combiner.stateSize;
    v.base = this.#bases[slot]!;
    return [v, fresh];
  }

  /**
   * Every member's p50 per input at its latest slot: `[m * H + hi]` in
   * {@link LIVE_MEMBERS} order, NaN where a member has none. `set` brings
   * the LSTM and the Bayesian network (absent: statistical members only).
   */
  memberForecasts(inputs: readonly ServingInput[], set: ModelSet | undefined): Float64Array[] {
    const H = this.horizons.length;
    const S = STAT_MEMBERS.length;
    const lstmAt = S;
    const bayesAt = S + 1;
    const seasonalAt = SEASONAL * H;
    const out = inputs.map((x) => {
      const p = new Float64Array(LIVE_MEMBERS.length * H).fill(Number.NaN);
      statLatest(x.values, this.horizons, this.seasonSteps, p);
      // Less than a season in `values`: the value a season back that the round read from the window.
      const season = x.season;
      if (season !== undefined) {
        for (let hi = 0; hi < H; hi++) {
          const v = season[hi];
          if (Number.isNaN(p[seasonalAt + hi]!) && typeof v === 'number' && v >= 0) p[seasonalAt + hi] = v;
        }
      }
      return p;
    });
    if (set === undefined) return out;
    const same = set.horizons.join(',') === this.horizons.join(',');
    if (same) {
      const { warm, q } = set.lstmLatest(inputs);
      warm.forEach((i, k) => {
        for (let hi = 0; hi < H; hi++) out[i]![lstmAt * H + hi] = Math.max(0, q.p50[k * H + hi]!);
      });
    }
    if (same && set.bayes !== undefined) {
      inputs.forEach((x, i) => {
        const level = levelOf(x.values, this.#levelSlots);
        if (!(level > 0)) return;
        const origin = x.startMs + (x.values.length - 1) * x.stepMs;
        for (let hi = 0; hi < H; hi++) {
          const cs = set.bayes!.coldStart(origin + this.horizons[hi]! * x.stepMs, hi, level);
          if (Number.isFinite(cs[1])) out[i]![bayesAt * H + hi] = cs[1];
        }
      });
    }
    return out;
  }

  /**
   * Forecasts every input at its latest slot: scores the token's earlier
   * probes against its history, then serves the combination of the
   * members, with its weights and leading member per horizon.
   */
  predict(inputs: readonly ServingInput[], set: ModelSet | undefined): ServingForecast[] {
    const preds = this.memberForecasts(inputs, set);
    const H = this.horizons.length;
    return inputs.map((x, i) => {
      const startSlot = Math.round(x.startMs / x.stepMs);
      const origin = startSlot + x.values.length - 1;
      const scale = Math.max(levelOf(x.values, this.#levelSlots), 1e-3);
      const [state, fresh] = this.#open(x.token);
      if (fresh) this.combiner.reset(state, origin, relativeSpread(x.values));
      else this.combiner.observe(state, x.values, startSlot, scale);
      const { points, weights } = this.combiner.combine(state, origin, preds[i]!, scale);
      if (state !== this.#scratch) this.#bases[state.off / this.combiner.stateSize] = state.base;
      const shown: Record<string, number[]> = {};
      LIVE_MEMBERS.forEach((name, m) => {
        if (weights.some((w) => w[m]! >= SHOWN_WEIGHT))
          shown[name] = weights.map((w) => Math.round(w[m]! * 1000) / 1000);
      });
      const leaders = weights.map((w) => {
        let best = 0;
        for (let m = 1; m < w.length; m++) if (w[m]! > w[best]!) best = m;
        return LIVE_MEMBERS[best]!;
      });
      const f: ServingForecast = {
        token: x.token,
        source: ForecastSource.Combined,
        p10: [],
        p50: [],
        p90: [],
        weights: shown,
        leaders,
      };
      for (let hi = 0; hi < H; hi++) {
        f.p10.push(points[hi]!.p10);
        f.p50.push(points[hi]!.p50);
        f.p90.push(points[hi]!.p90);
      }
      return f;
    });
  }
}
