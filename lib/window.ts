import { invalidField } from './errors.ts';
import { isPlainObject } from './guards.ts';
import { compileOptionsObject, optStrictInt } from './options.ts';
import { Ring } from './window-ring.ts';
import type { RingSnapshot } from './window-ring.ts';

export type { RingSnapshot };

/** What happened in one bucket. `cost` is the cost asked for (demand), allowed or not. */
export interface BucketCounts {
  requests: number;
  allowed: number;
  denied: number;
  cost: number;
}

export interface WindowOptions {
  /** Number of 1 s buckets kept. @default 900 (15 min) */
  fineBuckets: number;
  /** Number of 1 min buckets kept. @default 1440 (24 h) */
  coarseBuckets: number;
}

/** The JSON form of a {@link BehaviourWindow}, for hand-off between nodes. */
export interface WindowSnapshot {
  v: 1;
  fineBuckets: number;
  coarseBuckets: number;
  /** null when nothing was ever recorded. */
  lastMs: number | null;
  totals: BucketCounts;
  fine: RingSnapshot;
  coarse: RingSnapshot;
}

export type Resolution = '1s' | '1m';

/** A fresh copy of the defaults. */
export function defaultWindowOptions(): WindowOptions {
  return { fineBuckets: 900, coarseBuckets: 1440 };
}

const MAX_BUCKETS = 1 << 20;

/**
 * Fills defaults and validates with lib/options.ts: unknown keys and bad
 * values are reported together in one InputError (code InvalidOptions).
 */
export function compileWindowOptions(options: Partial<WindowOptions> = {}): Readonly<WindowOptions> {
  const buckets = optStrictInt(1, MAX_BUCKETS);
  return compileOptionsObject<WindowOptions>(
    'window',
    { fineBuckets: buckets, coarseBuckets: buckets },
    defaultWindowOptions(),
    options,
  );
}

/** Shared by every window made without options (frozen). */
const DEFAULT_OPTIONS = compileWindowOptions();

/**
 * A token's recent behaviour at two resolutions: 1 s buckets for the last
 * minutes and 1 min buckets for the last day, in ring buffers that grow on
 * demand (see lib/window-ring.ts): each stores only the span from its oldest
 * non-empty bucket to now, doubling up to the configured bucket count as that
 * span grows and shrinking when the token goes quiet. A new window holds no
 * buffer; with the defaults a token with ~10 requests over a minute costs
 * about 2 KB (0.9 KB of V8 heap, 1 KB of buffer), one busy every second for
 * 15 min about 15 KB, and one busy every second for a day the full 16 bytes a
 * bucket, about 37 KB, as the old preallocated rings did (bench/window-memory.ts).
 * Once grown, recording allocates nothing; it is O(1) amortised.
 */
export class BehaviourWindow {
  readonly options: Readonly<WindowOptions>;
  readonly #fine: Ring;
  readonly #coarse: Ring;
  #lastMs = Number.NEGATIVE_INFINITY;
  #requests = 0;
  #allowed = 0;
  #cost = 0;

  constructor(options?: Partial<WindowOptions>) {
    this.options = options === undefined ? DEFAULT_OPTIONS : compileWindowOptions(options);
    this.#fine = new Ring(this.options.fineBuckets, 1_000);
    this.#coarse = new Ring(this.options.coarseBuckets, 60_000);
  }

  /** The latest time recorded; -Infinity when nothing was. */
  get lastMs(): number {
    return this.#lastMs;
  }

  /** Counts one request. A time slightly in the past goes to its own bucket, a time too old to the oldest. */
  record(nowMs: number, allowed: boolean, cost: number): void {
    const a = allowed ? 1 : 0;
    this.#fine.add(Math.floor(nowMs / this.#fine.stepMs), 1, a, cost);
    this.#coarse.add(Math.floor(nowMs / this.#coarse.stepMs), 1, a, cost);
    this.#requests++;
    this.#allowed += a;
    this.#cost += cost;
    if (nowMs > this.#lastMs) this.#lastMs = nowMs;
  }

  /**
   * Turns one allowed request recorded at `atMs` into a denied one (its
   * allowance was refunded). Does nothing if that bucket has no allowed
   * request left or has been overwritten.
   */
  recordRefund(atMs: number): void {
    this.#fine.refund(Math.floor(atMs / this.#fine.stepMs));
    this.#coarse.refund(Math.floor(atMs / this.#coarse.stepMs));
    if (this.#allowed > 0) this.#allowed--;
  }

  /**
   * The last `count` buckets ending with the one that holds `nowMs`, aligned
   * to bucket boundaries (`startMs` = floor(now / step) * step - (count-1) * step),
   * oldest first, zeros where nothing happened.
   */
  series(
    resolution: Resolution,
    count: number,
    nowMs: number,
  ): { startMs: number; stepMs: number; buckets: BucketCounts[] } {
    const ring = this.#ring(resolution);
    if (!Number.isSafeInteger(count) || count < 1 || count > ring.size) {
      throw invalidField('count', `an integer from 1 to ${ring.size}`, count);
    }
    const end = Math.floor(nowMs / ring.stepMs);
    const buckets: BucketCounts[] = [];
    for (let b = end - count + 1; b <= end; b++) {
      const s = ring.find(b);
      const requests = s < 0 ? 0 : (ring.counts[2 * s] as number);
      const allowed = s < 0 ? 0 : (ring.counts[2 * s + 1] as number);
      const cost = s < 0 ? 0 : (ring.cost[s] as number);
      buckets.push({ requests, allowed, denied: requests - allowed, cost });
    }
    return { startMs: (end - count + 1) * ring.stepMs, stepMs: ring.stepMs, buckets };
  }

  /**
   * Adds another window's counts to this one (the same token was served on two
   * nodes during a hand-off): bucket by bucket, totals summed, latest time kept.
   */
  merge(other: BehaviourWindow): void {
    this.#fine.mergeFrom(other.#fine);
    this.#coarse.mergeFrom(other.#coarse);
    this.#requests += other.#requests;
    this.#allowed += other.#allowed;
    this.#cost += other.#cost;
    if (other.#lastMs > this.#lastMs) this.#lastMs = other.#lastMs;
  }

  /** The sum of {@link series}. */
  sum(resolution: Resolution, count: number, nowMs: number): BucketCounts {
    const total: BucketCounts = { requests: 0, allowed: 0, denied: 0, cost: 0 };
    for (const b of this.series(resolution, count, nowMs).buckets) {
      total.requests += b.requests;
      total.allowed += b.allowed;
      total.denied += b.denied;
      total.cost += b.cost;
    }
    return total;
  }

  /** Everything recorded since the window was created (surviving hand-offs). */
  totals(): BucketCounts {
    const requests = this.#requests;
    return { requests, allowed: this.#allowed, denied: requests - this.#allowed, cost: this.#cost };
  }

  #ring(resolution: Resolution): Ring {
    if (resolution === '1s') return this.#fine;
    if (resolution === '1m') return this.#coarse;
    throw invalidField('resolution', '"1s" or "1m"', resolution);
  }

  toJSON(): WindowSnapshot {
    return {
      v: 1,
      fineBuckets: this.options.fineBuckets,
      coarseBuckets: this.options.coarseBuckets,
      lastMs: Number.isFinite(this.#lastMs) ? this.#lastMs : null,
      totals: this.totals(),
      fine: this.#fine.toJSON(),
      coarse: this.#coarse.toJSON(),
    };
  }

  /**
   * Restores a window from {@link toJSON} output (possibly from another node).
   * @throws InputError when the snapshot is malformed.
   */
  static fromJSON(s: WindowSnapshot, field = 'window'): BehaviourWindow {
    const raw: unknown = s;
    if (!isPlainObject(raw) || raw['v'] !== 1) throw invalidField(field, 'a window snapshot (v 1)', raw);
    const w = new BehaviourWindow({ fineBuckets: s.fineBuckets, coarseBuckets: s.coarseBuckets });
    w.#fine.load(raw['fine'], `${field}.fine`);
    w.#coarse.load(raw['coarse'], `${field}.coarse`);
    const t: unknown = raw['totals'];
    const n = (k: string): boolean => isPlainObject(t) && Number.isFinite(t[k]) && (t[k] as number) >= 0;
    if (!n('requests') || !n('allowed') || !n('cost')) throw invalidField(`${field}.totals`, 'counts', t);
    w.#requests = s.totals.requests;
    w.#allowed = s.totals.allowed;
    w.#cost = s.totals.cost;
    if (s.lastMs !== null && !Number.isFinite(s.lastMs))
      throw invalidField(`${field}.lastMs`, 'a time', s.lastMs);
    w.#lastMs = s.lastMs ?? Number.NEGATIVE_INFINITY;
    return w;
  }
}
