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
  /**
   * Number of 1 min buckets kept: a day and the minute in progress, so that
   * the minute a day before any moment from the latest one recorded on is
   * still held (a forecast round reads it for the live zoo's seasonal-naive
   * member; with 1,440 the minute a day before a target 5 s ahead had just
   * been dropped, issue 12).
   * @default 1441
   */
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
  return { fineBuckets: 900, coarseBuckets: 1441 };
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

/** Bucket widths of the two resolutions. */
const FINE_MS = 1_000;
const COARSE_MS = 60_000;
/** 1 s buckets per 1 min bucket. */
const PER_COARSE = COARSE_MS / FINE_MS;
const NONE = Number.NEGATIVE_INFINITY;

/** The two rings of a window, made once it has requests in a second second. */
interface Rings {
  fine: Ring;
  coarse: Ring;
}

/**
 * A token's recent behaviour at two resolutions: 1 s buckets for the last
 * minutes and 1 min buckets for the last day, in ring buffers that grow on
 * demand (see lib/window-ring.ts): each stores only the span from its oldest
 * non-empty bucket to now, doubling up to the configured bucket count as that
 * span grows and shrinking when the token goes quiet.
 *
 * Until a token has requests in two different seconds it has no rings at
 * all: its one bucket is four numbers on the window (the sparse form; the
 * 1 min bucket of that second holds the same counts), and the rings are made
 * from it on the first request in another second. A million one-off users
 * each make a window that never leaves this form (issue 11: the rings and
 * their buffers were ~1 KB of a one-off token's ~1.4 KB). With the defaults
 * a one-off token's window costs about 0.15 KB, a token with ~10 requests over
 * a minute about 2 KB (0.9 KB of V8 heap, 1 KB of buffer), one busy every
 * second for 15 min about 15 KB, and one busy every second for a day the full
 * 16 bytes a bucket, about 37 KB, as the old preallocated rings did
 * (bench/window-memory.ts). Once grown, recording allocates nothing; it is
 * O(1) amortised. Every reading (series, snapshots, merges, refunds) is the
 * same in either form.
 */
export class BehaviourWindow {
  readonly options: Readonly<WindowOptions>;
  /** Undefined while the window is in its sparse form. */
  #rings: Rings | undefined;
  /** The sparse form: the one 1 s bucket recorded (NONE before any) and its counts. */
  #oneBucket = NONE;
  #oneRequests = 0;
  #oneAllowed = 0;
  #oneCost = 0;
  #lastMs = Number.NEGATIVE_INFINITY;
  #requests = 0;
  #allowed = 0;
  #cost = 0;

  constructor(options?: Partial<WindowOptions>) {
    this.options = options === undefined ? DEFAULT_OPTIONS : compileWindowOptions(options);
  }

  /** The latest time recorded; -Infinity when nothing was. */
  get lastMs(): number {
    return this.#lastMs;
  }

  /** Counts one request. A time slightly in the past goes to its own bucket, a time too old to the oldest. */
  record(nowMs: number, allowed: boolean, cost: number): void {
    this.recordMany(nowMs, 1, allowed ? 1 : 0, cost);
  }

  /**
   * Counts `requests` requests at one time, `allowed` of them allowed and
   * `cost` in all: as many {@link record} calls would, in O(1) (a client's
   * report of the checks it decided from a lease counts up to two million).
   */
  recordMany(nowMs: number, requests: number, allowed: number, cost: number): void {
    if (requests <= 0) return;
    const fine = Math.floor(nowMs / FINE_MS);
    if (this.#rings === undefined && (this.#oneBucket === fine || this.#oneBucket === NONE)) {
      this.#oneBucket = fine;
      this.#oneRequests += requests;
      this.#oneAllowed += allowed;
      this.#oneCost += cost;
    } else {
      const rings = this.#rings ?? this.#materialise();
      rings.fine.add(fine, requests, allowed, cost);
      rings.coarse.add(Math.floor(nowMs / COARSE_MS), requests, allowed, cost);
    }
    this.#requests += requests;
    this.#allowed += allowed;
    this.#cost += cost;
    if (nowMs > this.#lastMs) this.#lastMs = nowMs;
  }

  /** Leaves the sparse form: the rings, holding its bucket as if it had been recorded into them. */
  #materialise(): Rings {
    const rings: Rings = {
      fine: new Ring(this.options.fineBuckets, FINE_MS),
      coarse: new Ring(this.options.coarseBuckets, COARSE_MS),
    };
    const one = this.#oneBucket;
    if (one !== NONE) {
      rings.fine.add(one, this.#oneRequests, this.#oneAllowed, this.#oneCost);
      rings.coarse.add(Math.floor(one / PER_COARSE), this.#oneRequests, this.#oneAllowed, this.#oneCost);
    }
    this.#rings = rings;
    this.#oneBucket = NONE;
    this.#oneRequests = this.#oneAllowed = this.#oneCost = 0;
    return rings;
  }

  /**
   * Turns one allowed request recorded at `atMs` into a denied one (its
   * allowance was refunded). Does nothing if that bucket has no allowed
   * request left or has been overwritten.
   */
  recordRefund(atMs: number): void {
    if (this.#rings === undefined && this.#oneBucket !== NONE) {
      // What each ring would do (Ring.refund: an older bucket counts in the oldest one held).
      const one = this.#oneBucket;
      const coarse = Math.floor(one / PER_COARSE);
      const fineHit = Math.max(Math.floor(atMs / FINE_MS), one - this.options.fineBuckets + 1) === one;
      const coarseHit =
        Math.max(Math.floor(atMs / COARSE_MS), coarse - this.options.coarseBuckets + 1) === coarse;
      if (fineHit === coarseHit) {
        if (fineHit && this.#oneAllowed > 0) this.#oneAllowed--;
        if (this.#allowed > 0) this.#allowed--;
        return;
      }
      this.#materialise(); // the rings part ways
    }
    const rings = this.#rings;
    if (rings !== undefined) {
      rings.fine.refund(Math.floor(atMs / FINE_MS));
      rings.coarse.refund(Math.floor(atMs / COARSE_MS));
    }
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
    const fine = resolution === '1s';
    if (!fine && resolution !== '1m') throw invalidField('resolution', '"1s" or "1m"', resolution);
    const size = fine ? this.options.fineBuckets : this.options.coarseBuckets;
    if (!Number.isSafeInteger(count) || count < 1 || count > size) {
      throw invalidField('count', `an integer from 1 to ${size}`, count);
    }
    const stepMs = fine ? FINE_MS : COARSE_MS;
    const end = Math.floor(nowMs / stepMs);
    const buckets: BucketCounts[] = [];
    const rings = this.#rings;
    if (rings === undefined) {
      const one = fine ? this.#oneBucket : Math.floor(this.#oneBucket / PER_COARSE);
      for (let b = end - count + 1; b <= end; b++) {
        const requests = b === one ? this.#oneRequests : 0;
        const allowed = b === one ? this.#oneAllowed : 0;
        buckets.push({ requests, allowed, denied: requests - allowed, cost: b === one ? this.#oneCost : 0 });
      }
      return { startMs: (end - count + 1) * stepMs, stepMs, buckets };
    }
    const ring = fine ? rings.fine : rings.coarse;
    for (let b = end - count + 1; b <= end; b++) {
      const s = ring.find(b);
      const requests = s < 0 ? 0 : (ring.counts[2 * s] as number);
      const allowed = s < 0 ? 0 : (ring.counts[2 * s + 1] as number);
      const cost = s < 0 ? 0 : (ring.cost[s] as number);
      buckets.push({ requests, allowed, denied: requests - allowed, cost });
    }
    return { startMs: (end - count + 1) * stepMs, stepMs, buckets };
  }

  /**
   * The request counts of the last `count` one-second buckets up to the one
   * holding `nowMs`, oldest first: what {@link series} gives as
   * `buckets[i].requests`, without an object per bucket (a forecast round
   * reads 300 of them for every active token).
   */
  requests(count: number, nowMs: number): { startMs: number; values: number[] } {
    const size = this.options.fineBuckets;
    if (!Number.isSafeInteger(count) || count < 1 || count > size) {
      throw invalidField('count', `an integer from 1 to ${size}`, count);
    }
    const end = Math.floor(nowMs / FINE_MS);
    const first = end - count + 1;
    const values = new Array<number>(count).fill(0);
    const rings = this.#rings;
    if (rings === undefined) {
      const at = this.#oneBucket - first;
      if (at >= 0 && at < count) values[at] = this.#oneRequests;
    } else {
      const ring = rings.fine;
      for (let i = 0; i < count; i++) {
        const s = ring.find(first + i);
        if (s >= 0) values[i] = ring.counts[2 * s] as number;
      }
    }
    return { startMs: first * FINE_MS, values };
  }

  /**
   * The request count of the one-minute bucket holding `atMs`, read from the
   * coarse ring without an object per bucket (a forecast round reads one per
   * horizon of every active token older than a day): 0 for a minute with
   * nothing recorded, NaN when the minute is older than the window holds
   * (`coarseBuckets` minutes up to the latest recorded) or began before
   * `sinceMs`, the window's creation. The window keeps no creation time of
   * its own: its owner passes it (TokenActor.createdMs, which survives
   * hand-offs), so a token younger than a day has no count a day back, and
   * the minute it was created in, being partial, has none either.
   */
  minuteRequests(atMs: number, sinceMs: number): number {
    const b = Math.floor(atMs / COARSE_MS);
    if (!(b * COARSE_MS >= sinceMs)) return Number.NaN;
    const rings = this.#rings;
    if (rings === undefined) {
      const one = Math.floor(this.#oneBucket / PER_COARSE);
      if (b <= one - this.options.coarseBuckets) return Number.NaN;
      return b === one ? this.#oneRequests : 0;
    }
    const ring = rings.coarse;
    if (b <= ring.head - ring.size) return Number.NaN;
    const s = ring.find(b);
    return s < 0 ? 0 : (ring.counts[2 * s] as number);
  }

  /**
   * Adds another window's counts to this one (the same token was served on two
   * nodes during a hand-off): bucket by bucket, totals summed, latest time kept.
   */
  merge(other: BehaviourWindow): void {
    const mine = this.#rings ?? this.#materialise();
    const theirs = other.#rings;
    if (theirs !== undefined) {
      mine.fine.mergeFrom(theirs.fine);
      mine.coarse.mergeFrom(theirs.coarse);
    } else if (other.#oneBucket !== NONE) {
      const { fine, coarse } = other.#sparseSnapshots();
      for (const [b, r, a, c] of fine.buckets) mine.fine.add(b, r, a, c);
      for (const [b, r, a, c] of coarse.buckets) mine.coarse.add(b, r, a, c);
    }
    this.#requests += other.#requests;
    this.#allowed += other.#allowed;
    this.#cost += other.#cost;
    if (other.#lastMs > this.#lastMs) this.#lastMs = other.#lastMs;
  }

  /** The sparse form as the rings' snapshots would say it (Ring.toJSON). */
  #sparseSnapshots(): { fine: RingSnapshot; coarse: RingSnapshot } {
    const one = this.#oneBucket;
    if (one === NONE) return { fine: { head: null, buckets: [] }, coarse: { head: null, buckets: [] } };
    const coarse = Math.floor(one / PER_COARSE);
    const r = this.#oneRequests;
    const a = this.#oneAllowed;
    const c = this.#oneCost;
    return {
      fine: { head: one, buckets: [[one, r, a, c]] },
      coarse: { head: coarse, buckets: [[coarse, r, a, c]] },
    };
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

  toJSON(): WindowSnapshot {
    return {
      v: 1,
      fineBuckets: this.options.fineBuckets,
      coarseBuckets: this.options.coarseBuckets,
      lastMs: Number.isFinite(this.#lastMs) ? this.#lastMs : null,
      totals: this.totals(),
      ...(this.#rings === undefined
        ? this.#sparseSnapshots()
        : { fine: this.#rings.fine.toJSON(), coarse: this.#rings.coarse.toJSON() }),
    };
  }

  /**
   * Restores a window from {@link toJSON} output (possibly from another node).
   * @throws InputError when the snapshot is malformed.
   */
  static fromJSON(s: WindowSnapshot, field = 'window'): BehaviourWindow {
    const raw: unknown = s;
    if (!isPlainObject(raw) || raw['v'] !== 1) throw invalidField(field, 'a window snapshot (v 1)', raw);
    const defaults =
      s.fineBuckets === DEFAULT_OPTIONS.fineBuckets && s.coarseBuckets === DEFAULT_OPTIONS.coarseBuckets;
    const w = new BehaviourWindow(
      defaults ? undefined : { fineBuckets: s.fineBuckets, coarseBuckets: s.coarseBuckets },
    );
    const rings = w.#materialise();
    rings.fine.load(raw['fine'], `${field}.fine`);
    rings.coarse.load(raw['coarse'], `${field}.coarse`);
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
