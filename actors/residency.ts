import type { Clock, TimerHandle } from '../lib/index.ts';

/**
 * What a {@link Residency} keeps per key: the key, the time of its last
 * activity, and its neighbours in activity order (set by the Residency).
 */
export interface Resident<K = unknown> {
  readonly key: K;
  lastActiveMs: number;
  older?: Resident<K> | undefined;
  newer?: Resident<K> | undefined;
}

/**
 * Resident entries in order of last activity (least recent first), with one
 * timer that finds the idle ones. The order is a doubly linked list through
 * the entries themselves, so `touch` is O(1) and allocates nothing, and the
 * same order serves LRU eviction and the idle sweep: a sweep walks from
 * the oldest entry and stops at the first one that is not yet idle, then
 * re-arms the timer for that one's deadline. Timers fire at most once per
 * `sweepMs`, so an entry is reported between `idleMs` and `idleMs + sweepMs`
 * after its last touch.
 *
 * Not a Map re-insertion per touch (as before): V8's Map keeps a deleted
 * entry until it rehashes, and one key deleted and set again at every
 * message beside 100,000 others cost ~100 us a touch, the most CPU of a
 * node under one-off users (issue 11), and made every walk from the oldest
 * step over the dead entries.
 */
export class Residency<K, V extends Resident<K>> {
  readonly #map = new Map<K, V>();
  #oldest: V | undefined;
  #newest: V | undefined;
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
  *keys(): IterableIterator<K> {
    for (const v of this.values()) yield v.key;
  }

  /**
   * Calls `visit` on entries from the least recent until it returns false:
   * a plain walk (the hot paths, eviction and the idle sweep, without an
   * iterator object per call). `visit` may delete or touch the entry it is
   * given, not others.
   */
  walk(visit: (value: V) => boolean): void {
    for (let v = this.#oldest; v !== undefined;) {
      const next = v.newer as V | undefined;
      if (!visit(v)) return;
      v = next;
    }
  }

  /**
   * As {@link walk}, from the most recent entry backwards: the entries
   * active since a moment are the newest ones, so a walk that stops at the
   * first older one costs what was active, not what is resident (the
   * forecast round's gather under 100,000 one-off users, issue 11).
   */
  walkNewest(visit: (value: V) => boolean): void {
    for (let v = this.#newest; v !== undefined;) {
      const next = v.older as V | undefined;
      if (!visit(v)) return;
      v = next;
    }
  }

  /** The first `limit` keys (all by default), least recently active first, as an array: a plain walk, no iterator. */
  keyList(limit = Number.POSITIVE_INFINITY): K[] {
    const out: K[] = [];
    for (let v = this.#oldest; v !== undefined && out.length < limit; v = v.newer as V | undefined) {
      out.push(v.key);
    }
    return out;
  }

  /**
   * Entries, least recently active first. As with a Map, an entry deleted
   * before the walk reaches it is not visited, and one touched meanwhile is
   * visited again as the most recent.
   */
  *values(): IterableIterator<V> {
    for (let v = this.#oldest; v !== undefined;) {
      // Read before the yield: the caller may move v (touch) or delete it.
      const next = v.newer as V | undefined;
      if (this.#map.get(v.key) === v) yield v;
      v = next;
    }
  }

  /** Adds or refreshes `key`: its activity is now, and it becomes the most recent. */
  touch(key: K, value: V): void {
    value.lastActiveMs = this.#clock.now();
    const held = this.#map.get(key);
    if (held !== value) {
      if (held !== undefined) this.#unlink(held);
      this.#map.set(key, value);
      this.#append(value);
    } else if (this.#newest !== value) {
      this.#unlink(value);
      this.#append(value);
    }
    this.#arm(value.lastActiveMs + this.#idleMs);
  }

  /**
   * {@link touch} for `value` known to be the entry held under its key (just
   * read from this map): the same, without looking the key up again. The
   * check path calls it once per decision (issue 15), with the time it read
   * for the decisions (`nowMs`, this map's clock) instead of a read each.
   */
  refresh(value: V, nowMs = this.#clock.now()): void {
    value.lastActiveMs = nowMs;
    if (this.#newest !== value) {
      this.#unlink(value);
      this.#append(value);
    }
    this.#arm(value.lastActiveMs + this.#idleMs);
  }

  delete(key: K): boolean {
    const held = this.#map.get(key);
    if (held === undefined) return false;
    this.#unlink(held);
    return this.#map.delete(key);
  }

  /** Takes `v` out of the order; its own links stay, so a walk standing on it goes on. */
  #unlink(v: V): void {
    const older = v.older as V | undefined;
    const newer = v.newer as V | undefined;
    if (older === undefined) this.#oldest = newer;
    else older.newer = newer;
    if (newer === undefined) this.#newest = older;
    else newer.older = older;
  }

  #append(v: V): void {
    v.older = this.#newest;
    v.newer = undefined;
    if (this.#newest === undefined) this.#oldest = v;
    else this.#newest.newer = v;
    this.#newest = v;
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
    this.walk((value) => {
      if (value.lastActiveMs > cutoff) {
        next = value;
        return false;
      }
      this.#onIdle(value);
      return true;
    });
    // Entries left in place as busy are touched when they finish, which
    // re-arms the timer; only a not-yet-idle one needs it armed now.
    if (next !== undefined) this.#arm(next.lastActiveMs + this.#idleMs);
  }
}
