/**
 * Time is injected: domain code reads a `Clock`, never `Date.now()` or the
 * global timers. Production uses {@link SystemClock}; tests and trace replay
 * use {@link SimulatedClock}, which only moves when told to.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds of this clock's time. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export type TimerHandle = { readonly __brand: 'TimerHandle' };

/** Resolves after `ms` on `clock` (a retry's pause, a poll's interval). */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise<void>((resolve) => clock.setTimeout(() => resolve(), ms));
}

/** The wall clock and Node's timers. */
export class SystemClock implements Clock {
  now(): number {
    return Date.now();
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t = setTimeout(fn, ms);
    // A pending timer must never keep a process alive on its own.
    t.unref();
    return t as unknown as TimerHandle;
  }
  clearTimeout(handle: TimerHandle): void {
    clearTimeout(handle as unknown as NodeJS.Timeout);
  }
}

interface PendingTimer {
  id: number;
  at: number;
  fn: () => void;
}

/**
 * A clock that stands still until `advance` or `set` moves it; timers due in
 * the skipped interval fire in time order, each seeing `now()` equal to its
 * own due time (as XState's SimulatedClock and Temporal's time skipping do).
 */
export class SimulatedClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: PendingTimer[] = [];

  constructor(startMs = 0) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#seq;
    this.#timers.push({ id, at: this.#now + Math.max(0, ms), fn });
    return id as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    const id = handle as unknown as number;
    this.#timers = this.#timers.filter((t) => t.id !== id);
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    this.set(this.#now + ms);
  }

  /** Moves time to `ms` (never backwards), firing due timers in order. */
  set(ms: number): void {
    if (ms < this.#now) throw new RangeError(`SimulatedClock cannot go back from ${this.#now} to ${ms}`);
    for (;;) {
      let next: PendingTimer | undefined;
      for (const t of this.#timers) {
        if (t.at <= ms && (next === undefined || t.at < next.at || (t.at === next.at && t.id < next.id))) {
          next = t;
        }
      }
      if (next === undefined) break;
      const due = next;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = due.at;
      due.fn();
    }
    this.#now = ms;
  }

  /** Number of timers not yet fired. */
  get pending(): number {
    return this.#timers.length;
  }
}
