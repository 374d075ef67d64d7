/**
 * The dashboard's memory of the recent past: a fixed-size ring of samples
 * (by default 10 minutes at one sample every 2 s), filled by a timer on the
 * node's clock while the HTTP API runs. Each sample is what `status` and
 * `pools.status` answer at that moment, reduced to the numbers the charts
 * draw: live actors per node, and each pool's units, ready units, demand and
 * forecast band. Nothing else is kept, so memory stays bounded whatever the
 * traffic (about 300 samples of a few numbers per node and pool).
 */
import type { Clock, TimerHandle } from '../../../lib/index.ts';
import type { PoolOverview } from '../../pools/index.ts';

/** A ring of the last `capacity` items, oldest first when read. */
export class Ring<T> {
  readonly capacity: number;
  readonly #items: T[] = [];
  #next = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`capacity must be a whole number of at least 1, got ${capacity}`);
    }
    this.capacity = capacity;
  }

  push(item: T): void {
    if (this.#items.length < this.capacity) this.#items.push(item);
    else this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.capacity;
  }

  get size(): number {
    return this.#items.length;
  }

  /** The items, oldest first. */
  toArray(): T[] {
    return this.#items.length < this.capacity
      ? [...this.#items]
      : [...this.#items.slice(this.#next), ...this.#items.slice(0, this.#next)];
  }
}

/** One pool at one moment; null where the pool's owner did not say. */
export interface PoolPoint {
  units: number | null;
  readyUnits: number | null;
  /** Requests per second over the pool's last step. */
  demand: number | null;
  /** The forecast the last decision looked at, requests per second. */
  p10: number | null;
  p50: number | null;
  p90: number | null;
}

export interface Sample {
  atMs: number;
  /** Live actors by node id; null for a node that did not answer. */
  actors: Record<string, number | null>;
  /** By pool name; absent when pools could not be read. */
  pools: Record<string, PoolPoint>;
}

/** Series for a chart: one time axis (ms) and one array per line, aligned with it. */
export interface Series {
  stepMs: number;
  t: number[];
  lines: Record<string, Array<number | null>>;
}

export interface HistoryOptions {
  /** Time between samples. @default 2000 */
  stepMs: number;
  /** Samples kept. @default 300 (10 minutes at 2 s) */
  capacity: number;
}

export function defaultHistoryOptions(): HistoryOptions {
  return { stepMs: 2000, capacity: 300 };
}

/** What a sample reads: the same calls `status` makes. */
export interface HistorySource {
  actors(): Promise<Record<string, number | null>>;
  pools(): Promise<PoolOverview[] | null>;
}

export function poolPoint(p: PoolOverview): PoolPoint {
  return {
    units: p.units,
    readyUnits: p.readyUnits,
    demand: p.demand,
    p10: p.forecast?.p10 ?? null,
    p50: p.forecast?.p50 ?? null,
    p90: p.forecast?.p90 ?? null,
  };
}

export class History {
  readonly options: Readonly<HistoryOptions>;
  readonly #ring: Ring<Sample>;
  readonly #clock: Clock;
  readonly #source: HistorySource;
  readonly #onError: (err: unknown) => void;
  #timer: TimerHandle | undefined;
  #running = false;

  constructor(
    clock: Clock,
    source: HistorySource,
    onError: (err: unknown) => void,
    options?: HistoryOptions,
  ) {
    this.options = Object.freeze({ ...(options ?? defaultHistoryOptions()) });
    this.#ring = new Ring(this.options.capacity);
    this.#clock = clock;
    this.#source = source;
    this.#onError = onError;
  }

  /** Takes a sample now, then one every `stepMs` until {@link stop}. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#tick();
  }

  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Reads one sample and keeps it. */
  async sample(): Promise<Sample> {
    const atMs = this.#clock.now();
    const [actors, pools] = await Promise.all([this.#source.actors(), this.#source.pools()]);
    const s: Sample = {
      atMs,
      actors,
      pools: Object.fromEntries((pools ?? []).map((p) => [p.name, poolPoint(p)])),
    };
    this.#ring.push(s);
    return s;
  }

  samples(): Sample[] {
    return this.#ring.toArray();
  }

  /** Live actors over time, one line per node seen in the window. */
  actorsSeries(): Series {
    const samples = this.samples();
    const ids = [...new Set(samples.flatMap((s) => Object.keys(s.actors)))].sort();
    return {
      stepMs: this.options.stepMs,
      t: samples.map((s) => s.atMs),
      lines: Object.fromEntries(ids.map((id) => [id, samples.map((s) => s.actors[id] ?? null)])),
    };
  }

  /** One pool over time: units, readyUnits, demand, p10, p50, p90. */
  poolSeries(name: string): Series {
    const samples = this.samples();
    const keys: Array<keyof PoolPoint> = ['units', 'readyUnits', 'demand', 'p10', 'p50', 'p90'];
    return {
      stepMs: this.options.stepMs,
      t: samples.map((s) => s.atMs),
      lines: Object.fromEntries(keys.map((k) => [k, samples.map((s) => s.pools[name]?.[k] ?? null)])),
    };
  }

  /** Every pool seen in the window. */
  poolNames(): string[] {
    return [...new Set(this.samples().flatMap((s) => Object.keys(s.pools)))].sort();
  }

  async #tick(): Promise<void> {
    try {
      await this.sample();
    } catch (err) {
      this.#onError(err);
    }
    if (this.#running) this.#timer = this.#clock.setTimeout(() => void this.#tick(), this.options.stepMs);
  }
}
