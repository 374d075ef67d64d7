/**
 * The reservoir decision made at arrival, on the check path's thread
 * (collector-batch.ts): per token and second of request time, the n-th
 * decision enters the sample when n <= K, or with probability K/n in place
 * of a uniformly chosen kept slot (Vitter's Algorithm R, "Random sampling
 * with a reservoir", ACM TOMS 11(1), 1985: the kept set is a uniform
 * K-subset of the second's decisions, whatever their order). The collection
 * worker's window applies the slots as given (CollectionWindow.addSampled),
 * so its reservoir for the token-second is the same uniform K-subset; a
 * decision that does not enter crosses only as counts.
 *
 * State: one small object per open token-second, freed a second after its
 * second ended (a request whose time is older than that crosses as
 * Slot.Late); opening one beyond the caller's bound is refused, so a flood
 * of one-off tokens cannot grow it without bound. While its second is open
 * (`deferring`), the counts of the decisions left out can wait in the state
 * and cross once, when the second ends (`release`), or before a refund of
 * the token-second; so can the kept decisions that are never refunded (at
 * most K item references per token-second). Pure: the randomness is given
 * in.
 */
import type { TokenKey } from '../lib/index.ts';
import type { ObservedItem } from './observer.ts';

/** Slot values besides a reservoir slot (>= 0). */
export const Slot = {
  /** Not sampled here (K = 0, or a refund): the window adds it as it always did. */
  None: -1,
  /** Its second was already released here: the window keeps it only while the token-second has room. */
  Late: -2,
  /** Left out of the sample: crosses as counts only (never in a batch's slot column). */
  Out: -3,
} as const;

/** How the port samples. */
export interface PortSampling {
  /** K: most records per token and second (> 0 to sample here). */
  recordsPerTokenSecond: number;
  /** Uniform numbers in [0, 1). @default Math.random */
  random?: () => number;
}

/** One token's state in one second. */
export interface TokenSecond {
  /** Start of the second (ms). */
  readonly second: number;
  /** Decisions seen. */
  n: number;
  /** The batch epoch the aggregate indices below belong to (collector-batch.ts), and those indices (-1: none). */
  epoch: number;
  allowAgg: number;
  denyAgg: number;
  /** True until the second's deferred counts were handed out (`end`). */
  deferring: boolean;
  /** Counts of decisions left out, waiting here: allowed and denied, and their costs. */
  allowN: number;
  allowCost: number;
  denyN: number;
  denyCost: number;
  /**
   * While deferring: the kept decisions that are never refunded (not
   * `refundable`), by slot, held here until the second ends, so that one
   * replaced before then never crosses; null until the first.
   */
  held: (HeldDecision | undefined)[] | null;
  /** While deferring: time and cost of each allowed, refundable decision left out (its shadow), or null. */
  shadows: number[] | null;
}

/** A kept decision held on the port until its second ends. */
export interface HeldDecision {
  item: ObservedItem;
  /** Queued.Allowed or Queued.Denied. */
  what: number;
  ruleId: string;
  atMs: number;
}

const SECOND = 1000;
/** How long after its second ended a token-second's state is kept for requests that arrive late. */
const HOLD_MS = 1000;

export class PortSampler {
  readonly #k: number;
  readonly #random: () => number;
  readonly #seconds = new Map<number, Map<TokenKey, TokenSecond>>();
  /** Seconds whose deferred counts were handed out. */
  readonly #ended = new Set<number>();
  /** The second last looked up, and its map: consecutive decisions mostly share it. */
  #lastStart = Number.NaN;
  #last: Map<TokenKey, TokenSecond> | undefined;
  /** Start of the first second still open here: older requests are late. */
  #floor = Number.NEGATIVE_INFINITY;
  #size = 0;
  /** The slot of the last `arrive`. */
  slot = 0;

  constructor(sampling: PortSampling) {
    this.#k = sampling.recordsPerTokenSecond;
    this.#random = sampling.random ?? Math.random;
  }

  /** Open token-seconds. */
  get size(): number {
    return this.#size;
  }

  /**
   * A decision of `token` at `atMs` arrives: sets `slot` (a reservoir slot,
   * Slot.Out or Slot.Late) and answers its token-second's state (a dummy
   * for a late one); undefined (nothing counted) when it would open a
   * token-second beyond `max`.
   */
  arrive(token: TokenKey, atMs: number, max: number): TokenSecond | undefined {
    const start = Math.floor(atMs / SECOND) * SECOND;
    if (start < this.#floor) {
      this.slot = Slot.Late;
      return LATE;
    }
    let m = start === this.#lastStart ? this.#last : this.#seconds.get(start);
    if (m === undefined) {
      if (this.#size >= max) return undefined;
      this.#seconds.set(start, (m = new Map()));
    }
    this.#lastStart = start;
    this.#last = m;
    let s = m.get(token);
    if (s === undefined) {
      if (this.#size >= max) return undefined;
      s = fresh(start, !this.#ended.has(start));
      m.set(token, s);
      this.#size++;
    }
    const n = ++s.n;
    const k = this.#k;
    if (n <= k) this.slot = n - 1;
    else {
      const j = Math.floor(this.#random() * n);
      this.slot = j < k ? j : Slot.Out;
    }
    return s;
  }

  /**
   * `count` decisions of `token` at `atMs` that are counted, never sampled
   * (collector-batch.ts addCounted): they add to the token-second's
   * decisions seen, so the reservoir's later draws stay K/n. Answers the
   * state as {@link arrive} does (undefined beyond `max`), `slot` set to
   * Slot.Late for a late one, else Slot.Out.
   */
  arriveCounted(token: TokenKey, atMs: number, count: number, max: number): TokenSecond | undefined {
    const s = this.arrive(token, atMs, max);
    if (s === undefined || this.slot === Slot.Late) return s;
    s.n += count - 1;
    this.slot = Slot.Out;
    return s;
  }

  /** Calls `each` with every open state of `token` whose second starts in [fromMs, toMs). */
  forToken(token: TokenKey, fromMs: number, toMs: number, each: (s: TokenSecond) => void): void {
    for (const [start, m] of this.#seconds) {
      if (start < fromMs || start >= toMs) continue;
      const s = m.get(token);
      if (s !== undefined) each(s);
    }
  }

  /**
   * Hands every deferred count of the seconds that ended by `nowMs` to
   * `each` (from then on their decisions are counted as they come), and
   * frees the token-seconds whose second ended at least HOLD_MS before.
   */
  release(nowMs: number, each: (token: TokenKey, s: TokenSecond) => void): void {
    for (const [start, m] of this.#seconds) {
      if (start + SECOND > nowMs) continue;
      if (!this.#ended.has(start)) {
        this.#ended.add(start);
        for (const [token, s] of m) {
          s.deferring = false;
          if (s.allowN + s.denyN > 0 || s.held !== null || s.shadows !== null) each(token, s);
        }
      }
      if (start + SECOND + HOLD_MS > nowMs) continue;
      this.#size -= m.size;
      this.#seconds.delete(start);
      this.#ended.delete(start);
      this.#floor = Math.max(this.#floor, start + SECOND);
      if (start === this.#lastStart) {
        this.#lastStart = Number.NaN;
        this.#last = undefined;
      }
    }
  }
}

function fresh(second: number, deferring: boolean): TokenSecond {
  return {
    second,
    n: 0,
    epoch: -1,
    allowAgg: -1,
    denyAgg: -1,
    deferring,
    allowN: 0,
    allowCost: 0,
    denyN: 0,
    denyCost: 0,
    held: null,
    shadows: null,
  };
}

/** The state a late decision answers (never counted: a late one always crosses one by one). */
const LATE: TokenSecond = fresh(0, false);
