// The ring buffer behind BehaviourWindow; internal to lib/ (not exported from index.ts).
//
// Memory follows activity. Logically a ring holds the `size` buckets
// (head - size, head]; physically it stores only the span [low, head], where
// `low` is the oldest bucket that may be non-empty (every bucket before it
// reads as zero). The span lives in a circular buffer of `cap` buckets,
// bucket b at slot b mod cap, with cap a power of two from MIN_CAP up to
// `size` (clipped to it), or 0 before anything was recorded:
// - the head moving forward drops buckets that leave the ring, moves `low` up
//   to the first non-empty bucket still held (a scan over buckets that are
//   then skipped for good, so O(1) amortised), and doubles `cap` when the
//   span no longer fits;
// - when the span falls to a quarter of `cap` (the token went quiet) the
//   buffer halves or more, so an idle token gives its memory back;
// - a write behind `low` (slight backwards time, merge, restore) widens the
//   span downwards the same way.
// One ArrayBuffer per ring holds both the counts (Uint32 pairs
// [requests, allowed]) and the costs (Float64), 16 bytes a bucket as before,
// so a ring that grew to `size` costs what the old preallocated one did, and
// recording into it allocates nothing.
import { invalidField } from './errors.ts';
import { isPlainObject } from './guards.ts';

/** One resolution's non-empty buckets: `[bucketNumber, requests, allowed, cost]`, bucket = floor(ms / step). */
export interface RingSnapshot {
  head: number | null;
  buckets: [number, number, number, number][];
}

/** Smallest non-empty buffer, in buckets. */
const MIN_CAP = 4;
const NO_COUNTS = new Uint32Array(0);
const NO_COST = new Float64Array(0);

/** A ring of `size` buckets of `stepMs`, holding buckets (head - size, head] in a buffer that grows on demand. */
export class Ring {
  /** `[requests, allowed]` of slot s at 2s, 2s + 1. Replaced when the buffer is resized. */
  counts: Uint32Array = NO_COUNTS;
  /** The cost of slot s. Replaced when the buffer is resized. */
  cost: Float64Array = NO_COST;
  head = Number.NEGATIVE_INFINITY;
  /** Buckets before `low` are empty; low > head when the ring is. */
  low = Number.POSITIVE_INFINITY;
  /** Buckets the buffer holds (0 before the first write). */
  cap = 0;
  /**
   * `head mod cap` (0 while either is unset), kept whenever the head or the
   * buffer moves: {@link slot} finds a bucket near the head by subtraction.
   * Bucket numbers come from a division (`Math.floor(ms / stepMs)`), doubles
   * in V8's compiled code, so a `%` on them is a floating-point modulo, a
   * call out of compiled code at every recorded request (issue 15: a 1,000
   * token window bench, 60-90 -> 40-55 ns a record).
   */
  #headSlot = 0;

  constructor(
    readonly size: number,
    readonly stepMs: number,
  ) {}

  slot(bucket: number): number {
    // Congruent to `bucket` mod cap; in [0, cap) for the buckets the buffer holds.
    const s = this.#headSlot - (this.head - bucket);
    if (s >= 0 && s < this.cap) return s;
    if (s < 0 && s + this.cap >= 0) return s + this.cap;
    const r = bucket % this.cap;
    return r < 0 ? r + this.cap : r;
  }

  /** Sets {@link #headSlot} after the head or the buffer moved. */
  #rebase(): void {
    const head = this.head;
    if (this.cap === 0 || head === Number.NEGATIVE_INFINITY) this.#headSlot = 0;
    else {
      const r = head % this.cap;
      this.#headSlot = r < 0 ? r + this.cap : r;
    }
  }

  /** The slot of `bucket` if it may be non-empty, else -1 (reads as zero). */
  find(bucket: number): number {
    return bucket > this.head || bucket < this.low || bucket <= this.head - this.size
      ? -1
      : this.slot(bucket);
  }

  /** The slot to record a request at `ms` in (see {@link at}). */
  locate(ms: number): number {
    return this.at(Math.floor(ms / this.stepMs));
  }

  /**
   * The slot to write `bucket` in, moving the head forward if needed. A bucket
   * older than anything held (clock skew after a hand-off) goes to the oldest.
   */
  at(bucket: number): number {
    // The common case, kept small so that it inlines: a bucket already held.
    return bucket <= this.head && bucket >= this.low ? this.slot(bucket) : this.#move(bucket);
  }

  /** {@link at} for a bucket outside [low, head]: moves the head or widens the span, resizing if needed. */
  #move(bucket: number): number {
    let b = bucket;
    if (this.head === Number.NEGATIVE_INFINITY) {
      this.head = b;
      this.low = b + 1;
    }
    const head = this.head;
    if (b > head) {
      const floor = b - this.size + 1;
      let low = this.low;
      if (low < floor) {
        low = floor;
        for (let s = low <= head ? this.slot(low) : 0; low <= head && this.counts[2 * s] === 0; low++) {
          if (++s === this.cap) s = 0;
        }
      }
      if (low > head) low = b;
      const need = b - low + 1;
      if (need > this.cap || (this.cap > MIN_CAP && need * 4 <= this.cap)) this.#resize(need, low);
      else this.#clearRun(head + 1, Math.min(b - head, this.cap));
      this.head = b;
      this.low = low;
      this.#rebase();
      return this.slot(b);
    }
    if (b <= head - this.size) b = head - this.size + 1;
    if (b < this.low) {
      const need = head - b + 1;
      if (need > this.cap) this.#resize(need, this.low);
      else this.#clearRun(b, Math.min(this.low, head + 1) - b);
      this.low = b;
    }
    return this.slot(b);
  }

  /** Adds counts to `bucket` (see {@link at}). */
  add(bucket: number, requests: number, allowed: number, cost: number): void {
    const s = this.at(bucket);
    this.counts[2 * s] = (this.counts[2 * s] as number) + requests;
    this.counts[2 * s + 1] = (this.counts[2 * s + 1] as number) + allowed;
    this.cost[s] = (this.cost[s] as number) + cost;
  }

  /** Adds every bucket of `other` (same step, any size) as if its requests had been recorded here. */
  mergeFrom(other: Ring): void {
    for (let b = Math.max(other.low, other.head - other.size + 1); b <= other.head; b++) {
      const o = other.find(b);
      const r = o < 0 ? 0 : (other.counts[2 * o] as number);
      if (r > 0) this.add(b, r, other.counts[2 * o + 1] as number, other.cost[o] as number);
    }
  }

  /** One allowed request in `bucket` (or the oldest held, if older) becomes denied; nothing if none is left. */
  refund(bucket: number): void {
    const s = this.find(Math.max(bucket, this.head - this.size + 1));
    if (s >= 0 && (this.counts[2 * s + 1] as number) > 0)
      this.counts[2 * s + 1] = (this.counts[2 * s + 1] as number) - 1;
  }

  /** Moves the held span [low, head] into a fresh buffer big enough for `need` buckets. */
  #resize(need: number, low: number): void {
    let cap = MIN_CAP;
    while (cap < need) cap *= 2;
    if (cap > this.size) cap = this.size;
    const buffer = new ArrayBuffer(16 * cap);
    const counts = new Uint32Array(buffer, 0, 2 * cap);
    const cost = new Float64Array(buffer, 8 * cap, cap);
    for (let b = Math.max(low, this.low); b <= this.head; b++) {
      const o = this.slot(b);
      const s = b % cap < 0 ? (b % cap) + cap : b % cap;
      counts[2 * s] = this.counts[2 * o] as number;
      counts[2 * s + 1] = this.counts[2 * o + 1] as number;
      cost[s] = this.cost[o] as number;
    }
    this.counts = counts;
    this.cost = cost;
    this.cap = cap;
    this.#rebase();
  }

  /** Zeroes the slots of `n` (at most cap) buckets from `from` on. */
  #clearRun(from: number, n: number): void {
    for (let i = 0, s = this.slot(from); i < n; i++) {
      this.counts[2 * s] = 0;
      this.counts[2 * s + 1] = 0;
      this.cost[s] = 0;
      if (++s === this.cap) s = 0;
    }
  }

  toJSON(): RingSnapshot {
    const buckets: [number, number, number, number][] = [];
    if (this.head === Number.NEGATIVE_INFINITY) return { head: null, buckets };
    for (let b = Math.max(this.low, this.head - this.size + 1); b <= this.head; b++) {
      const s = this.slot(b);
      const r = this.counts[2 * s] as number;
      if (r > 0) buckets.push([b, r, this.counts[2 * s + 1] as number, this.cost[s] as number]);
    }
    return { head: this.head, buckets };
  }

  load(snap: unknown, field: string): void {
    const ok =
      isPlainObject(snap) &&
      (snap['head'] === null || Number.isSafeInteger(snap['head'])) &&
      Array.isArray(snap['buckets']);
    if (!ok) throw invalidField(field, 'a ring snapshot {head, buckets}', snap);
    if (snap['head'] === null) return;
    const head = snap['head'] as number;
    this.head = head;
    this.low = head + 1;
    this.#rebase();
    for (const e of snap['buckets'] as unknown[]) {
      const valid =
        Array.isArray(e) &&
        e.length === 4 &&
        Number.isSafeInteger(e[0]) &&
        e[0] <= head &&
        e[0] > head - this.size &&
        Number.isSafeInteger(e[1]) &&
        Number.isSafeInteger(e[2]) &&
        e[2] <= e[1] &&
        e[1] <= 0xffffffff &&
        e[2] >= 0 &&
        Number.isFinite(e[3]) &&
        e[3] >= 0;
      if (!valid) throw invalidField(`${field}.buckets`, '[bucket, requests, allowed, cost] entries', e);
      const s = this.at(e[0] as number);
      this.counts[2 * s] = e[1] as number;
      this.counts[2 * s + 1] = e[2] as number;
      this.cost[s] = e[3] as number;
    }
  }
}
