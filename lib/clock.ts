/**
 * Time is injected: domain code reads a `Clock`, never `Date.now()` or the
 * global timers. Production uses {@link SystemClock}; tests and trace replay
 * use {@link SimulatedClock}, which only moves when told to; a node playing a
 * long trace fast (`--time-scale`) runs its domain time on {@link ScaledClock}.
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

/** Where a {@link ScaledClock} starts: data only, so a worker thread can build the same clock. */
export interface ScaledClockSpec {
  /** Domain milliseconds per real millisecond (> 0). */
  scale: number;
  /** Domain time at the start, ms since the epoch. */
  originMs: number;
  /** Real time at the start, ms since the epoch (fractional: read from `performance`). */
  realStartMs: number;
}

/** The wall clock with sub-millisecond precision (a scaled clock multiplies its steps). */
const realNowMs = (): number => performance.timeOrigin + performance.now();

/**
 * Domain time running `scale` times as fast as the wall clock, so that a
 * day-long trace and its daily cycle play against a live node in minutes
 * (`headroom start --time-scale N`): `now()` is `originMs + (real elapsed) x
 * scale`, in whole ms, and a timer of `ms` fires after `ms / scale` real ms
 * (Node's timers fire 1 ms apart at best: a period shorter than `scale` ms
 * runs late). Only a node's domain time runs scaled; its infrastructure
 * (heartbeats, request timeouts) keeps a {@link SystemClock}, see
 * services/node/node.ts.
 * @example new ScaledClock({ scale: 60 }) // an hour a minute, starting now
 */
export class ScaledClock implements Clock {
  readonly spec: Readonly<ScaledClockSpec>;

  constructor(spec: Partial<ScaledClockSpec> & { scale: number }) {
    if (!(Number.isFinite(spec.scale) && spec.scale > 0))
      throw new RangeError(`ScaledClock scale must be a positive number, got ${spec.scale}`);
    const realStartMs = spec.realStartMs ?? realNowMs();
    this.spec = Object.freeze({
      scale: spec.scale,
      originMs: spec.originMs ?? Math.floor(realStartMs),
      realStartMs,
    });
  }

  now(): number {
    return Math.floor(this.spec.originMs + (realNowMs() - this.spec.realStartMs) * this.spec.scale);
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t = setTimeout(fn, Math.max(0, ms) / this.spec.scale);
    // As SystemClock's: a pending timer must never keep a process alive on its own.
    t.unref();
    return t as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    clearTimeout(handle as unknown as NodeJS.Timeout);
  }
}

/**
 * A node's domain clock for `timeScale`: the plain {@link SystemClock} at 1,
 * else a {@link ScaledClock}. Without `originMs` it starts from now, so two
 * nodes started apart disagree by the gap times (scale - 1); with the same
 * `originMs` (`--time-origin`, a real moment at which domain time equals the
 * wall clock) every node reads `origin + (now - origin) x scale`, the same
 * domain time, whenever it started.
 */
export function domainClock(timeScale: number, originMs: number | null = null): Clock {
  if (timeScale === 1) return new SystemClock();
  return originMs === null
    ? new ScaledClock({ scale: timeScale })
    : new ScaledClock({ scale: timeScale, originMs, realStartMs: originMs });
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
