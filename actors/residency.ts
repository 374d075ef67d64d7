import type { Clock, TimerHandle } from '../lib/index.ts';

/** What a {@link Residency} keeps per key: the time of its last activity. */
export interface Resident {
  lastActiveMs: number;
}

/**
 * Resident entries in order of last activity (least recent first), with one
 * timer that finds the idle ones. `touch` is O(1) (a Map re-insertion), so
 * the same order serves LRU eviction and the idle sweep: a sweep walks from
 * the oldest entry and stops at the first one that is not yet idle, then
 * re-arms the timer for that one's deadline. Timers fire at most once per
 * `sweepMs`, so an entry is reported between `idleMs` and `idleMs + sweepMs`
 * after its last touch.
 */
export class Residency<K, V extends Resident> {
  readonly #map = new Map<K, V>();
  readonly #clock: Clock;
  readonly #idleMs: number;
  readonly #sweepMs: number;
  readonly #onIdle: (value: V) => void;
  #timer: TimerHandle | undefined;
  #lastSweepMs = Number.NEGATIVE_INFINITY;
  #closed = false;

  /**
   * `onIdle` is called during a sweep for every entry untouched for `idleMs`
   * or more. It may leave a busy entry in place; the caller then touches it
   * when it goes idle, which counts its idleness afresh and re-arms the timer.
   */
  constructor(clock: Clock, idleMs: number, sweepMs: number, onIdle: (value: V) => void) {
    this.#clock = clock;
    this.#idleMs = idleMs;
    this.#sweepMs = sweepMs;
    this.#onIdle = onIdle;
  }

  get(key: K): V | undefined {
    return this.#map.get(key);
  }

  has(key: K): boolean {
    return this.#map.has(key);
  }

  get size(): number {
    return this.#map.size;
  }

  /** Keys, least recently active first. */
  keys(): IterableIterator<K> {
    return this.#map.keys();
  }

  /** Entries, least recently active first. */
  values(): IterableIterator<V> {
    return this.#map.values();
  }

  /** Adds or refreshes `key`: its activity is now, and it becomes the most recent. */
  touch(key: K, value: V): void {
    value.lastActiveMs = this.#clock.now();
    this.#map.delete(key);
    this.#map.set(key, value);
    this.#arm(value.lastActiveMs + this.#idleMs);
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  /** Clears the timer for good; entries stay until deleted. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  // An armed timer is never later than the deadline asked for: it was armed
  // for an older entry (touch only moves deadlines later) or by a sweep for
  // the oldest not-yet-idle one.
  #arm(atMs: number): void {
    if (this.#closed || this.#timer !== undefined) return;
    const dueMs = Math.max(atMs, this.#lastSweepMs + this.#sweepMs);
    this.#timer = this.#clock.setTimeout(() => this.#sweep(), Math.max(0, dueMs - this.#clock.now()));
  }

  #sweep(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    this.#lastSweepMs = now;
    const cutoff = now - this.#idleMs;
    let next: V | undefined;
    for (const value of this.#map.values()) {
      if (value.lastActiveMs > cutoff) {
        next = value;
        break;
      }
      this.#onIdle(value);
    }
    // Entries left in place as busy are touched when they finish, which
    // re-arms the timer; only a not-yet-idle one needs it armed now.
    if (next !== undefined) this.#arm(next.lastActiveMs + this.#idleMs);
  }
}
